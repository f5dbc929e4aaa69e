// Package format turns a computer into partitions, as SlapOS's slapformat
// does: for each partition N of partition_amount,
//
//   - a user slapuserN in its own group slapuserN, password locked, home the
//     partition directory (useradd and groupadd of the system);
//   - the directory <instance_root>/slappartN, mode 0750, owned by it;
//   - one local IPv4 address on interface_name: the (N+1)-th host of
//     ipv4_local_network, as /32;
//   - one IPv6 address on ipv6_interface: the prefix of the interface's
//     global address with N+2 as host part, as /128, without duplicate
//     address detection;
//   - with partition_has_ipv6_range, an IPv6 range cut from the same
//     prefix P/L as SlapOS cuts it (IPv6Range): the ipv6_prefixshift (n)
//     bits after L hold 2^(n-2) + N + 1, the range is /(L+n). It is routed
//     to the host (`local` route on lo, in the local table) and
//     net.ipv6.ip_nonlocal_bind is set, so that the partition receives and
//     binds any address of it; Result.Capacity announces it
//     (api.PartitionCapacity.IPv6Range);
//   - with create_tap, a persistent tap interface slaptapN owned by the
//     user.
//
// Run checks before it changes anything: partition_amount, that
// interface_name and ipv6_interface exist (the error lists those that
// do), that the IPv6 prefix has room for the partitions' addresses, and
// that the ranges fit (CheckIPv6Ranges: L+n < 128 and 4·(partition_amount+1)
// <= 2^n, the error giving the largest partition_amount allowed). A refused
// configuration leaves the computer as it was, instance_root included.
//
// Run is idempotent: what exists is checked and left, what is missing is
// made, modes and owners are set again. partition_amount never decreases:
// the amount formatted is kept in <instance_root>/.slapgo-format.json and a
// smaller one is an error, changing nothing.
//
// # Unprivileged mode
//
// Without root (or with Options.Unprivileged) Run only makes the
// directories (owned by the caller) and says, in Result.Skipped, exactly
// what it did not do (no address, range nor tap; the ranges' arithmetic is
// still checked). IPv4 addresses inside 127.0.0.0/8 need no set-up
// (Linux answers the whole range on the loopback interface), so they are
// announced in that mode too, on "lo": partitions then have distinct
// addresses on a development machine.
//
// # Caller's duties
//
//  1. Announce Result.Capacity to the master (api.Client.SetCapacity).
//  2. Run it at boot (addresses do not survive a reboot) and periodically.
//  3. Call Run from a goroutine in the network namespace where the
//     addresses belong: netlink requests use the calling thread's.
//  4. With partition_has_ipv6_range, have the network route the ranges to
//     the computer: Run only makes the computer accept them.
package format
