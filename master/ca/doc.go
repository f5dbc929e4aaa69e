// Package ca is the master's certificate authority: it creates the CA key
// and certificate, issues one client certificate per identity (admin,
// person, computer, instance) and the master's server certificate, and reads
// the identity back from a verified peer certificate.
//
// Keys are ECDSA P-256, certificates X.509 v3 signed with ECDSA-SHA256,
// PEM-encoded (keys as PKCS #8). An identity certificate carries its
// identity twice: as a URI subject alternative name slapgo://<kind>/<id>
// (the authoritative one, see IdentityOf) and as the subject common name
// <id> (for people reading it). It is valid for client authentication only;
// the server certificate for server authentication only, so neither can
// stand in for the other.
//
// Contract:
//
//   - IdentityOf trusts its argument: pass it only a certificate that the
//     TLS stack verified against Pool (crypto/tls does so with
//     tls.VerifyClientCertIfGiven and ClientCAs = Pool()).
//   - Issue and IssueServer take the current time as an argument; the
//     certificate is valid from an hour before it (clock skew) for
//     IdentityValidity or ServerValidity.
//
// Caller's duties: keep the CA key (ca.key) readable by the master only;
// record the serials issued (the master's store does) if an audit trail is
// wanted; refuse a certificate whose identity no longer exists (the CA does
// not revoke).
package ca
