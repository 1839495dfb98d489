import SQLKit
