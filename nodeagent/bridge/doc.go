// Package bridge is slapgo's IPv6-to-IPv4 bridge: a TCP proxy that makes
// a legacy program, listening only on its partition's local IPv4 address,
// reachable on the partition's IPv6 address without changing a line of it
// (SlapOS uses stunnel or Apache for this). "slapgo bridge" runs it; the
// instance-time recipe "bridge" (nodeagent/profile) writes the supervised
// service that calls it.
//
// # Contract
//
// Each accepted connection is forwarded to the target on a new
// connection; bytes are copied both ways as they come. When one side
// ends its sending (FIN), the proxy ends its sending to the other side
// (half-close) and the other direction goes on until it ends too. An error
// (reset, refused write) on either side closes both. A connection with no
// byte moving either way for IdleTimeout is closed. At most
// MaxConnections are forwarded at once: further clients wait in the
// listen queue, they are not refused. A target that refuses or does not
// answer within DialTimeout closes the client's connection, with a
// warning naming the target.
//
// Serve stops when its context is done (slapgo bridge: SIGTERM or
// SIGINT): it stops accepting, gives open connections DrainTimeout to
// end, cuts the others, logs its totals and returns nil, so the
// supervisor sees a clean exit.
//
// Logs (log/slog): the configuration once; one line per connection when
// it ends, with client, target, bytes each way, duration and why it ended
// (debug level for its start); warnings for unreachable targets, the
// connection limit and accept errors.
//
// # Caller's duties
//
//  1. Give Listen and Target as ADDRESS:PORT, an IPv6 address in brackets.
//     The listening address must be configured (slapgo node format adds
//     the partition's addresses): the error says so otherwise.
//  2. Run one Serve per listener; cancel its context to stop it.
package bridge
