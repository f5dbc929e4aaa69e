// Package server is the production master: the HTTP API of master/api over
// mutual TLS, around core/master's state machine, persisted by master/store
// and authenticated by master/ca. It makes no marketplace decision itself:
// every change is a core/master Command applied with the caller's Actor,
// and authorization is core/master's.
//
// # Data directory
//
// InitDataDir creates it (master.db, ca.crt, ca.key, server.crt,
// server.key, admin.crt, admin.key) and refuses a non-empty directory;
// Open loads it and rebuilds the state from the database. The keys of
// the TLS session tickets are derived from the CA key (ticketKeys: a new
// one every day, each kept 8 days; in memory only), so that nodes resume
// their TLS sessions across a restart, and on another master of the grid
// after a take-over (its masters share the CA key).
//
// # Connections
//
// A connection to the API has HandshakeTimeout (30 s) from its acceptance
// for its TLS handshake, then HeaderTimeout (10 s) for each request's
// header: handshakes queued for the CPU when thousands of nodes reconnect
// at once are not cut short and made again from the start.
//
// # Requests
//
//   - Every route but POST /api/v1/register, /healthz and /metrics needs a
//     client certificate verified against the master's CA (TLS 1.3,
//     tls.VerifyClientCertIfGiven). Its slapgo://<kind>/<id> URI is the
//     caller's model.Actor; an identity that no longer exists (a person,
//     computer or instance the state does not hold, or a destroyed
//     instance) is refused with 401.
//   - Bodies are JSON labelled application/json (TioXML usage journals:
//     application/xml or text/xml), UTF-8; another Content-Type or charset,
//     or a non-empty body with none, answers 415. They are decoded
//     strictly: unknown fields, a field name in another case, a key given
//     twice at any depth, invalid UTF-8, wrong types, malformed or trailing
//     data answer 400 naming the field or the byte; beyond api.MaxJSONBody
//     (api.MaxUsageBody for usage journals) 413. Errors are api.ErrorBody
//     {code, message}; core/master's sentinel errors map to 400 (invalid),
//     403 (forbidden; quota_exceeded for master.ErrQuota), 404 (not found),
//     409 (conflict); a failed database to 503.
//   - POST /api/v1/instances answers 200 when the instance has a home
//     (or is destroyed) and 202 with the pending reason otherwise.
//   - GET /api/v1/computers/{id} authorizes, then compares If-None-Match
//     with the view's version (one map lookup) and answers 304, or the view
//     encoded once per version (gzip when accepted and the view is 1 KiB
//     or more, by pooled compressors), with ETag "<version>"
//     and SlapOS's Cache-Control. A poll by the computer itself applies
//     core/master's Contact command when ContactDue says so (the computer
//     was offline, or its recorded contact grew old): durable, and pending
//     requests are retried on a computer that comes back.
//
// # Portal
//
// The web portal (portal*.go, templates and assets under portal/) is
// served on the same listener under /portal/. A browser is signed in by a
// client certificate of a person or the admin, or by a session cookie
// opened with a password (argon2id, stored through master.SetPassword) or
// a one-time link (master.IssueSignInLink, master.UseSignInLink). Pages
// read through core/master's queries with the viewer's Actor, and forms
// apply core/master's commands with it, so a page shows what /api/v1
// shows that identity; what the viewer may not see answers 404. Every form
// carries a CSRF token bound to the session (or, before sign-in, to a
// SameSite=Strict cookie); sign-in attempts are rate-limited per person
// and per address. Sessions, the event list and the metric samples are in
// memory.
//
// # Durability
//
// Commands are applied one at a time under one mutex; their mutations (and
// the certificates and tokens they create) are submitted to the store in
// apply order under that mutex, and the answer waits outside it until the
// store committed them (group commit). Answers that only read wait for
// the batches queued before them, so nothing acknowledged or shown can be
// lost by a crash. A failed write stops the master (Serve returns): memory
// would be ahead of the disk, and a restart rebuilds it from the database.
// A value the database could not keep is not a failed write: core/master
// refuses it (400 naming the field), and should the core ever let one
// through, the command is refused for its caller alone and the state is
// rebuilt from the database while the master keeps serving
// (discardUnstorable).
//
// # Caller's duties
//
// Call Serve with the API listener (TLS is added here) and, optionally, a
// plain listener for /metrics and /healthz; cancel its context to drain
// (SIGTERM); then Close, which flushes the queued commits. Pending requests
// are retried every Options.RetryEvery while Serve runs.
package server
