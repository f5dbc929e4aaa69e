// Package api holds the master's wire types and its Go client: the one
// contract between the master and everyone who talks to it (node agents,
// the CLI, the live feature backend, load generators).
//
// The API is JSON over HTTPS with mutual TLS, resources under /api/v1:
//
//	person-facing
//	  POST   /api/v1/persons                              add a person (admin) -> Credentials
//	  GET    /api/v1/persons                              every person (admin)
//	  GET    /api/v1/whoami                               the caller's identity
//	  POST   /api/v1/computers                            register a computer -> ComputerRegistration
//	  GET    /api/v1/computers                            computers the caller may see
//	  GET    /api/v1/computers/{id}/details               one computer, with partitions and software
//	  PATCH  /api/v1/computers/{id}                       change region, network, prices, scope
//	  POST   /api/v1/computers/{id}/supply                supply or remove a software release
//	  POST   /api/v1/instances                            request an instance (person: a root; instance: a child)
//	  GET    /api/v1/instances?all=true                   instances the caller may see (all: with the destroyed ones)
//	  GET    /api/v1/instances/{guid}                     one instance
//	  GET    /api/v1/instances/{guid}/events              its recent events, oldest first (who may read it)
//	  POST   /api/v1/instances/{guid}/bang                process the instance's tree again
//	  POST   /api/v1/instances/{guid}/rename              change its title
//	  POST   /api/v1/instances/{guid}/state               change only its requested state (start, stop, destroy)
//	  GET    /api/v1/pending                              requests waiting for a home (admin)
//	  GET    /api/v1/invoices?from=&to=&person=           invoices of a period
//	node-facing
//	  POST   /api/v1/register                             exchange a one-time token for the computer's certificate (no client certificate)
//	  GET    /api/v1/computers/{id}                       the computer's view; ETag, If-None-Match -> 304
//	  PUT    /api/v1/computers/{id}/capacity              partitions and addresses (format)
//	  PUT    /api/v1/computers/{id}/software-state        building, available, error, destroyed
//	  PUT    /api/v1/computers/{id}/partitions/{pid}/state       started, stopped, error
//	  PUT    /api/v1/computers/{id}/partitions/{pid}/connection  connection parameters (also per shared instance)
//	  POST   /api/v1/computers/{id}/partitions/{pid}/destroyed   the partition was wiped
//	  POST   /api/v1/computers/{id}/partitions/{pid}/certificate the certificate of the partition's instance
//	  POST   /api/v1/computers/{id}/usage                 a TioXML usage journal (application/xml)
//
// Errors are JSON {code, message} with the status that fits: 400 invalid,
// 401 unauthenticated, 403 forbidden, 404 not_found, 409 conflict,
// 413 too_large, 503 unavailable. A request that is not placed yet answers
// 202 with the instance and its pending reason.
//
// A Client made by NewClient or NewClientTLS resumes its TLS sessions when
// it reconnects (a session cache of its own: a client certificate is not
// part of a cache's key, so a cache is never shared between identities).
//
// NB: this package imports only core/model (and core/master's wire-level
// InstanceInfo shape is copied here, not imported), so clients never link
// the server.
package api
