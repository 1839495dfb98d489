import Mustache

/// The console's pages as Mustache templates (`{{x}}` escapes HTML; `{{{x}}}` is used only for text the
/// console rendered itself). Every page is rendered into `layout`.
enum ConsoleTemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in sources {
            // The templates are constants of this file: a syntax error is a programming error a test catches.
            try! library.register(text, named: name)
        }
        return library
    }()

    static func hasTemplate(_ name: String) -> Bool { library.getTemplate(named: name) != nil }

    static func render(_ name: String, _ values: [String: Any]) -> String {
        library.render(values, withTemplate: name) ?? "template \(name) is missing"
    }

    static let sources: [String: String] = [
        "layout": layout, "signin": signIn, "calls": calls, "call": call, "audit": audit, "message": message,
    ]

    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · exorec console</title>
        <link rel="stylesheet" href="/console/assets/console.css">
        </head>
        <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <a class="brand" href="/console/calls">exorec console</a>
          {{#user}}
          <nav aria-label="Console sections">
            <a href="/console/calls"{{#onCalls}} aria-current="page"{{/onCalls}}>Calls</a>
            {{#canAudit}}<a href="/console/audit"{{#onAudit}} aria-current="page"{{/onAudit}}>Audit log</a>{{/canAudit}}
          </nav>
          <div class="who">
            <span>{{name}} <span class="badge">{{role}}</span></span>
            <form method="post" action="/console/sign-out">
              <input type="hidden" name="csrf" value="{{csrf}}">
              <button type="submit">Sign out</button>
            </form>
          </div>
          {{/user}}
        </header>
        <main id="main" tabindex="-1">
        {{#notice}}<p class="notice {{kind}}" role="status">{{text}}</p>{{/notice}}
        {{{content}}}
        </main>
        <script src="/console/assets/console.js" defer></script>
        </body>
        </html>
        """

    static let signIn = """
        <form class="signin" method="post" action="/console/sign-in">
          <h1>Sign in</h1>
          <input type="hidden" name="csrf" value="{{csrf}}">
          <input type="hidden" name="next" value="{{next}}">
          <label for="name">User name</label>
          <input id="name" name="name" autocomplete="username" required autofocus>
          <label for="password">Password</label>
          <input id="password" name="password" type="password" autocomplete="current-password" required>
          <button class="primary" type="submit">Sign in</button>
        </form>
        """

    static let calls = """
        <h1>Calls</h1>
        <form class="search" method="get" action="/console/calls" role="search" aria-label="Search calls">
          <div><label for="q-number">Number</label><input id="q-number" name="number" value="{{q.number}}" placeholder="+91 98765 43210"></div>
          <div><label for="q-sid">CallSid</label><input id="q-sid" name="call_sid" value="{{q.call_sid}}"></div>
          <div><label for="q-status">Status</label><input id="q-status" name="status" value="{{q.status}}" placeholder="completed"></div>
          <div><label for="q-field">CustomField</label><input id="q-field" name="custom_field" value="{{q.custom_field}}"></div>
          <div class="wide"><label for="q-from">Placed from (UTC)</label><input id="q-from" name="from" type="datetime-local" value="{{q.from}}"></div>
          <div class="wide"><label for="q-to">Placed before (UTC)</label><input id="q-to" name="to" type="datetime-local" value="{{q.to}}"></div>
          <div class="checks">
            <label><input type="checkbox" name="has_recording" value="1"{{#q.has_recording}} checked{{/q.has_recording}}> Has recording</label>
            <label><input type="checkbox" name="interrupted" value="1"{{#q.interrupted}} checked{{/q.interrupted}}> Interrupted</label>
            <label><input type="checkbox" name="held" value="1"{{#q.held}} checked{{/q.held}}> On hold</label>
          </div>
          <div class="actions"><button class="primary" type="submit">Search</button><a class="button" href="/console/calls">Clear</a></div>
        </form>
        {{#scanStopped}}<p class="notice">The search stopped after reading many calls; narrow it with a time range, or go to the next page.</p>{{/scanStopped}}
        <form method="post" action="/console/selection" id="selection">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <table class="calls">
          <caption class="sr-only">Calls, newest first</caption>
          <thead><tr>
            {{#canAudit}}<th scope="col"><input type="checkbox" id="select-all" aria-label="Select every call on this page"></th>{{/canAudit}}
            <th scope="col">Time (UTC)</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Duration</th>
            <th scope="col">Status</th><th scope="col">Media</th><th scope="col">Hold</th><th scope="col">Verify</th>
          </tr></thead>
          <tbody>
          {{#rows}}
          <tr>
            {{#canAudit}}<td data-label="Select"><input type="checkbox" name="call_sid" value="{{sid}}" aria-label="Select call {{sid}}"></td>{{/canAudit}}
            <td data-label="Time" class="num"><a href="/console/calls/{{sid}}" aria-label="Call {{sid}} placed {{time}}">{{time}}</a></td>
            <td data-label="From">{{from}}</td><td data-label="To">{{to}}</td>
            <td data-label="Duration" class="num">{{duration}}</td>
            <td data-label="Status"><span class="badge {{statusClass}}">{{status}}</span></td>
            <td data-label="Media">{{media}}</td>
            <td data-label="Hold">{{#held}}<span class="badge hold">held</span>{{/held}}{{^held}}—{{/held}}</td>
            <td data-label="Verify"><span class="badge {{verifyClass}}">{{verify}}</span></td>
          </tr>
          {{/rows}}
          {{^rows}}<tr><td colspan="9">No calls match.</td></tr>{{/rows}}
          </tbody>
        </table>
        {{#canAudit}}
        <div class="row-actions" style="margin-top:.8em">
          <button type="submit" name="action" value="verify">Verify selected</button>
          <button type="submit" name="action" value="export">Export selected as a bag</button>
        </div>
        {{/canAudit}}
        </form>
        {{#canAudit}}
        <form method="post" action="/console/export" style="margin-top:.6em">
          <input type="hidden" name="csrf" value="{{csrf}}">
          {{#searchFields}}<input type="hidden" name="{{name}}" value="{{value}}">{{/searchFields}}
          <button type="submit">Export this search as a bag</button>
        </form>
        {{/canAudit}}
        <nav class="pager" aria-label="Pages">
          {{#first}}<a href="{{first}}">First page</a>{{/first}}
          {{#next}}<a href="{{next}}" rel="next">Next page</a>{{/next}}
          <span>{{count}} on this page</span>
        </nav>
        """

    static let call = """
        <h1>Call <code>{{sid}}</code></h1>
        <dl class="facts">
          <dt>Placed</dt><dd>{{time}}</dd><dt>From</dt><dd>{{from}}</dd><dt>To</dt><dd>{{to}}</dd>
          <dt>Status</dt><dd><span class="badge {{statusClass}}">{{status}}</span></dd>
          <dt>Duration</dt><dd>{{duration}}</dd><dt>CustomField</dt><dd>{{customField}}</dd>
          <dt>Origin</dt><dd>{{origin}}</dd>
          <dt>Hold</dt><dd>{{#hold}}<span class="badge hold">held</span> {{reason}} — placed by {{by}} at {{at}}{{/hold}}{{^hold}}not held{{/hold}}</dd>
          <dt>Last verified</dt><dd>{{lastVerify}}</dd>
        </dl>
        <div class="row-actions">
          {{#canAdmin}}
          {{^hold}}
          <form method="post" action="/console/calls/{{sid}}/hold">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <div><label for="hold-reason">Hold reason</label><input id="hold-reason" name="reason" required maxlength="1000"></div>
            <button class="danger" type="submit">Place hold</button>
          </form>
          {{/hold}}
          {{#hold}}
          <form method="post" action="/console/calls/{{sid}}/release">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <div><label for="release-reason">Release reason</label><input id="release-reason" name="reason" required maxlength="1000"></div>
            <button type="submit">Release hold</button>
          </form>
          {{/hold}}
          {{/canAdmin}}
          {{#canAudit}}
          <form method="post" action="/console/verify">
            <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="call_sid" value="{{sid}}">
            <button type="submit">Verify this call</button>
          </form>
          <form method="post" action="/console/export">
            <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="call_sid" value="{{sid}}">
            <button type="submit">Export as a bag</button>
          </form>
          {{/canAudit}}
        </div>
        <h2>Media</h2>
        {{#media}}
        <section class="media" aria-label="{{label}}">
          <h3 style="margin:.1em 0 .4em;font-size:1em">{{label}} <span class="badge {{stateClass}}">{{state}}</span></h3>
          <dl class="facts">
            <dt>Format</dt><dd>{{format}}, {{channels}} channel(s), {{rate}} Hz</dd>
            <dt>Duration</dt><dd>{{duration}}</dd><dt>Bytes</dt><dd>{{bytes}}</dd>
            <dt>SHA-256</dt><dd><code>{{sha256}}</code></dd><dt>File</dt><dd><code>{{path}}</code></dd>
          </dl>
          {{#elsewhere}}<p class="notice">{{text}}</p>{{/elsewhere}}
          {{#playable}}
          <div class="player" data-src="{{src}}" data-peaks="{{peaks}}" data-channels="{{channels}}">
            {{#dual}}
            <div class="lane l1"><span class="name">Leg 1</span><canvas aria-label="Waveform of leg 1 of {{label}}; click to seek" role="img"></canvas></div>
            <div class="lane l2"><span class="name">Leg 2</span><canvas aria-label="Waveform of leg 2 of {{label}}; click to seek" role="img"></canvas></div>
            {{/dual}}
            {{^dual}}{{#hasPeaks}}<div class="lane l1"><span class="name">Mono</span><canvas aria-label="Waveform of {{label}}; click to seek" role="img"></canvas></div>{{/hasPeaks}}{{/dual}}
            <audio controls preload="none" src="{{src}}" aria-label="Player for {{label}}"></audio>
            <div class="controls">
              {{#dual}}
              <button type="button" data-solo="both" aria-pressed="true">Both legs</button>
              <button type="button" data-solo="1" aria-pressed="false">Leg 1 only</button>
              <button type="button" data-solo="2" aria-pressed="false">Leg 2 only</button>
              {{/dual}}
              {{#growing}}<button type="button" data-live="1">Catch up (live)</button> <span class="badge warn">recording now</span>{{/growing}}
              <a class="button" href="{{src}}?download=1" download>Download</a>
              <span role="status" aria-live="polite"></span>
            </div>
          </div>
          {{/playable}}
        </section>
        {{/media}}
        {{^media}}<p>No media files.</p>{{/media}}
        <h2>Status history</h2>
        <table><thead><tr><th scope="col">At (UTC)</th><th scope="col">Status</th><th scope="col">Source</th></tr></thead>
        <tbody>{{#history}}<tr><td class="num">{{at}}</td><td>{{status}}</td><td>{{source}}</td></tr>{{/history}}</tbody></table>
        <h2>Callbacks</h2>
        <table><thead><tr><th scope="col">Received (UTC)</th><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Deliveries</th></tr></thead>
        <tbody>{{#callbacks}}<tr><td class="num">{{at}}</td><td>{{event}}</td><td>{{status}}</td><td class="num">{{deliveries}}</td></tr>{{/callbacks}}
        {{^callbacks}}<tr><td colspan="4">None.</td></tr>{{/callbacks}}</tbody></table>
        """

    static let audit = """
        <h1>Audit log</h1>
        <p>Chain: {{#chainOK}}<span class="chain-ok">intact</span>{{/chainOK}}{{^chainOK}}<span class="chain-bad">BROKEN</span>{{/chainOK}}
          — {{chainCount}} entries checked{{#chainProblem}}; {{.}}{{/chainProblem}}</p>
        <div class="table-wrap"><table class="audit"><thead><tr><th scope="col">Seq</th><th scope="col">At (UTC)</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Call</th><th scope="col">Detail</th></tr></thead>
        <tbody>{{#entries}}<tr><td class="num">{{seq}}</td><td class="num">{{at}}</td><td>{{actor}}</td><td>{{action}}</td>
        <td class="call">{{#callSid}}<a href="/console/calls/{{callSid}}">{{callSid}}</a>{{/callSid}}</td><td class="detail">{{#rawDetail}}<code>{{detail}}</code>{{/rawDetail}}{{^rawDetail}}<dl class="kv">{{#details}}<dt>{{key}}</dt><dd>{{value}}</dd>{{/details}}</dl>{{/rawDetail}}</td></tr>{{/entries}}</tbody></table></div>
        <nav class="pager" aria-label="Pages">{{#older}}<a href="{{older}}">Older entries</a>{{/older}}</nav>
        """

    static let message = """
        <h1>{{heading}}</h1>
        <p>{{text}}</p>
        {{#items}}<ul>{{#list}}<li>{{.}}</li>{{/list}}</ul>{{/items}}
        <p><a href="{{back}}">Back</a></p>
        """
}
