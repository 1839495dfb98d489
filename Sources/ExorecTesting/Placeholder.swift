// testing helpers (in progress)
