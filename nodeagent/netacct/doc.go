// Package netacct counts the network traffic of each partition: bytes and
// packets received and sent by the partition's addresses, for the usage
// journal's network_in_bytes and network_out_bytes movements. It is how
// the node agent makes good on the promise that giving every partition
// its own addresses makes per-partition traffic accounting simple.
//
// # Pieces
//
//   - Counter holds the address → partition table (SetOwners: single
//     addresses and ranges, longest prefix wins; OwnersFromAddresses builds
//     it from the partitions' announced addresses) and the per-partition
//     Counts. Safe for concurrent use: captures write while the agent
//     reads.
//   - Decoder decodes one frame with gopacket's DecodingLayerParser
//     (Ethernet, 802.1Q, Linux cooked, BSD loopback, IPv4, IPv6; nothing
//     above IP is parsed but a TCP header's length) and attributes it: to
//     the partition owning the source address as Out, to the one owning
//     the destination as In. It allocates nothing per frame.
//   - Capture (Linux) reads an interface with an AF_PACKET socket and a
//     TPACKET_V3 ring mapped in memory, in pure Go (golang.org/x/sys/unix;
//     no libpcap, no cgo), copying only the first SnapLen bytes of each
//     frame.
//   - PcapReader, PcapWriter and CountPcap read and write classic pcap
//     files (tcpdump -w), for tests, benchmarks and offline accounting.
//   - Movements turns a period's Counts into account.JournalMovement
//     values.
//
// # What is counted
//
// A byte is an IP-level byte: the IP packet with its IP header and
// everything above (transport header, payload), without the link layer
// (Ethernet header, FCS, preamble). The figure is read from the IP
// header's length field, so a capture truncated to the headers counts the
// whole packet. A packet is an IP packet on the wire. Packets that the
// kernel hands over before segmentation (GSO/TSO) or after coalescing
// (GRO) — one 64 KiB "packet" standing for 45 of 1500 bytes — are counted
// as the segments they stand for, each with its IP and TCP (or UDP)
// header, using the segment size Linux reports (PACKET_VNET_HDR): the
// figures are those of the wire whatever the offload settings. Pcap files
// carry no such information: an offloaded packet in a file counts once.
// Retransmissions count as often as they are sent.
//
// Attribution: a packet whose source a partition owns is Out for it; one
// whose destination a partition owns is In for it; traffic between two
// partitions of the node is Out for one and In for the other. A packet
// from a partition to itself (say from its IPv6 bridge to its own IPv4
// address) is not network usage and is only counted in Stats.Internal.
// Packets no partition owns are counted in Stats.Unowned.
//
// Loopback: Linux shows each packet twice on lo (sent, then received);
// the sent copy is dropped by the capture's kernel filter, and skipped
// (Stats.Duplicates) in Linux cooked pcap files.
//
// # Periods
//
// Counts only grow. Snapshot returns what the current period counted so
// far; EndPeriod returns the same and starts the next period at that
// instant: every packet is counted in exactly one period, whatever the
// captures are doing. Total gives the cumulative counts.
//
// # Caller's duties
//
//  1. Capture the interfaces the partitions' traffic crosses exactly once:
//     the interface carrying their addresses (interface_name, and
//     ipv6_interface if different) for traffic with the outside, and lo
//     for traffic between partitions of the node (Linux delivers traffic
//     between local addresses on lo, whatever interface holds them). Do
//     not also capture the ports of a bridge whose addresses you capture:
//     their packets would count twice.
//  2. Call OpenCapture from a goroutine in the network namespace of the
//     interface (the socket belongs to the calling thread's namespace), as
//     root or with CAP_NET_RAW; give each Capture its own goroutine for
//     Run, and cancel its context to stop it.
//  3. Keep the owner table in step with the partitions' addresses
//     (SetOwners after each format), and watch CaptureStats.Drops: a
//     capture that drops undercounts.
//  4. At each usage sample, take EndPeriod and add it to the persisted
//     meter: counts held only in memory are lost if the process dies.
package netacct
