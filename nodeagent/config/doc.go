// Package config reads the node agent's configuration: an INI file in the
// style of SlapOS's slapos.cfg.
//
//	[slapos]
//	computer_id   = COMP-1234
//	master_url    = https://master.example:8443
//	software_root = /opt/slapgrid
//	instance_root = /srv/slapgrid
//	key_file      = /etc/slapgo/computer.key
//	cert_file     = /etc/slapgo/computer.crt
//	ca_file       = /etc/slapgo/ca.crt
//	master_protocol = slapgo   # or slap: SlapOS's protocol (a SlapOS master)
//
//	[slapformat]
//	partition_amount    = 10
//	partition_base_name = slappart
//	user_base_name      = slapuser
//	tap_base_name       = slaptap
//	interface_name      = eth0
//	ipv4_local_network  = 10.0.0.0/16
//	ipv6_interface      = eth0
//	create_tap          = false
//	partition_has_ipv6_range = false
//	ipv6_prefixshift    = 16
//
//	[slapgrid]
//	maximum_periodicity = 86400
//	poll_interval       = 60s
//	retry_base          = 1m
//	retry_max           = 1h
//	promise_timeout     = 20
//	usage_interval      = 24h
//
// # Contract
//
// Load and Parse accept the syntax of Python's configparser that slapos.cfg
// uses: "[section]" headers, "key = value" or "key: value" lines, comments
// starting with "#" or ";" on their own line, and indented continuation
// lines (joined with a newline). Keys are case-insensitive. A section or a
// key given twice, a section or key this package does not know, a line
// outside any section and a value that does not parse are errors: each
// names the file, the line, the section and the key, so a typo never
// silently falls back to a default (every error wraps ErrConfig).
//
// Durations accept Go's syntax ("90s", "1h30m") or a bare number of seconds
// (as slapos.cfg writes maximum_periodicity). Relative paths are resolved
// against the directory of the file. Options this package adds to
// slapos.cfg's set are listed on Grid and Format.
//
// # Caller's duties
//
//  1. Call Validate (Load does) before using a Config built by hand.
//  2. Treat the files named by KeyFile, CertFile and CAFile as secrets to
//     create (node register) or read (every other command): this package
//     only names them.
package config
