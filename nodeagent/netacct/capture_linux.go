package netacct

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"
)

// CaptureOptions tunes a Capture. The zero value is a good default.
type CaptureOptions struct {
	// SnapLen is how many bytes of each frame are copied to the ring, from
	// its link-layer header (default 128: Ethernet, 802.1Q, IPv6 and the
	// largest TCP header). Only headers are read.
	SnapLen int
	// BlockSize (bytes, a multiple of the page size; default 1 MiB) and
	// Blocks (default 8) size the ring shared with the kernel: about 4000
	// frames per MiB at the default SnapLen. Frames arriving while the
	// ring is full are dropped by the kernel (CaptureStats.Drops).
	BlockSize int
	Blocks    int
	// BlockTimeout bounds how long a frame waits in a block that is not
	// full before the kernel hands the block over (default 50ms).
	BlockTimeout time.Duration
}

func (o *CaptureOptions) defaults() error {
	if o.SnapLen == 0 {
		o.SnapLen = 128
	}
	if o.BlockSize == 0 {
		o.BlockSize = 1 << 20
	}
	if o.Blocks == 0 {
		o.Blocks = 8
	}
	if o.BlockTimeout == 0 {
		o.BlockTimeout = 50 * time.Millisecond
	}
	page := os.Getpagesize()
	switch {
	case o.SnapLen < 64 || o.SnapLen > 65535:
		return fmt.Errorf("netacct: capture SnapLen %d: expected 64 to 65535 bytes", o.SnapLen)
	case o.BlockSize < page || o.BlockSize%page != 0 || o.BlockSize > 1<<30:
		return fmt.Errorf("netacct: capture BlockSize %d: expected a multiple of the page size (%d) up to 1 GiB", o.BlockSize, page)
	case o.Blocks < 2 || o.Blocks > 1024:
		return fmt.Errorf("netacct: capture Blocks %d: expected 2 to 1024", o.Blocks)
	case o.BlockTimeout < time.Millisecond || o.BlockTimeout > time.Minute:
		return fmt.Errorf("netacct: capture BlockTimeout %s: expected 1ms to 1m", o.BlockTimeout)
	case o.BlockSize < 2*frameAlign(tpacket3HdrLen+20+vnetHdrLen+o.SnapLen):
		return fmt.Errorf("netacct: capture BlockSize %d is too small for SnapLen %d", o.BlockSize, o.SnapLen)
	}
	return nil
}

// CaptureStats are the figures of one capture (cumulative).
type CaptureStats struct {
	// Frames the capture decoded.
	Frames uint64 `json:"frames"`
	// Drops are frames the kernel could not put in the ring (it was full):
	// traffic that was not counted. A capture that drops needs a larger
	// ring or a faster core.
	Drops uint64 `json:"drops"`
	// Offloads says whether the kernel describes offloaded packets
	// (PACKET_VNET_HDR): without it a GSO/GRO packet counts as one.
	Offloads bool `json:"offloads"`
	// CPU is the CPU time of the thread running the capture (user and
	// system), updated a few times a second: what counting costs besides
	// the kernel's copy of each frame's headers into the ring.
	CPU time.Duration `json:"cpu"`
}

// Capture counts the traffic of one network interface into a Counter,
// reading frames from an AF_PACKET socket (TPACKET_V3 ring, no libpcap, no
// cgo). It sees both directions. Open it with OpenCapture, then Run it.
type Capture struct {
	iface    string
	ifindex  int
	loopback bool
	fd       int
	ring     []byte
	o        CaptureOptions
	dec      *Decoder
	offloads bool

	ran       atomic.Bool // Run was called
	inRun     atomic.Bool // Run is running
	frames    atomic.Uint64
	cpu       atomic.Int64 // nanoseconds, of Run's thread since cpuBase
	cpuBase   int64
	mu        sync.Mutex // kernel statistics are reset on read
	drops     uint64
	closeOnce sync.Once
	closeErr  error
}

// Sizes of the TPACKET_V3 ring's headers.
const (
	tpacket3HdrLen = 48 // TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
	vnetHdrLen     = 10 // sizeof(struct virtio_net_hdr)
	blockStatusOff = 8  // tpacket_block_desc: version, offset_to_priv, then hdr.bh1.block_status
)

func frameAlign(n int) int { return (n + unix.TPACKET_ALIGNMENT - 1) &^ (unix.TPACKET_ALIGNMENT - 1) }

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// OpenCapture opens a capture of the interface named iface into c. It
// checks the interface exists before anything else, and fails with an
// error naming it (ErrNoInterface) if not; without CAP_NET_RAW it fails
// with ErrPermission. The socket belongs to the network namespace of the
// calling thread.
func OpenCapture(iface string, c *Counter, o CaptureOptions) (*Capture, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		var names []string
		if all, lerr := net.Interfaces(); lerr == nil {
			for _, i := range all {
				names = append(names, i.Name)
			}
		}
		slices.Sort(names)
		return nil, fmt.Errorf("%w: %q (%v): nothing captured; interfaces here: %v", ErrNoInterface, iface, err, names)
	}
	// Protocol 0: the socket receives nothing until bind, once it is set up.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("%w: capturing on %s needs CAP_NET_RAW (run the node agent as root): %v", ErrPermission, iface, err)
		}
		return nil, fmt.Errorf("netacct: capture on %s: packet socket: %w", iface, err)
	}
	cp := &Capture{iface: iface, ifindex: ifc.Index, loopback: ifc.Flags&net.FlagLoopback != 0, fd: fd, o: o, dec: NewDecoder(c)}
	if err := cp.setup(); err != nil {
		unix.Close(fd)
		if cp.ring != nil {
			unix.Munmap(cp.ring)
		}
		return nil, fmt.Errorf("netacct: capture on %s: %w", iface, err)
	}
	return cp, nil
}

// snapFilter is the socket filter (classic BPF) of a capture: it keeps
// the first snap bytes of each frame and, on a loopback interface, drops
// the sent copy of each packet in the kernel (the received copy is
// counted), sparing the ring half the frames.
func snapFilter(snap uint32, loopback bool) []unix.SockFilter {
	const (
		ldAbsWord = 0x20 // BPF_LD|BPF_W|BPF_ABS
		jeqK      = 0x15 // BPF_JMP|BPF_JEQ|BPF_K
		retK      = 0x06 // BPF_RET|BPF_K
		pktType   = 0xfffff000 + 4
	)
	if !loopback {
		return []unix.SockFilter{{Code: retK, K: snap}}
	}
	return []unix.SockFilter{
		{Code: ldAbsWord, K: pktType},
		{Code: jeqK, K: unix.PACKET_OUTGOING, Jt: 0, Jf: 1},
		{Code: retK, K: 0},
		{Code: retK, K: snap},
	}
}

func (cp *Capture) setup() error {
	fd, o := cp.fd, cp.o
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("TPACKET_V3: %w", err)
	}
	// The offload header (gso_size) lets an offloaded packet count as the
	// segments it stands for. Kernels without it still count, less exactly.
	cp.offloads = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1) == nil
	filter := snapFilter(uint32(o.SnapLen), cp.loopback)
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}); err != nil {
		return fmt.Errorf("snapshot filter: %w", err)
	}
	const frame = 1 << 11
	req := unix.TpacketReq3{
		Block_size:     uint32(o.BlockSize),
		Block_nr:       uint32(o.Blocks),
		Frame_size:     frame,
		Frame_nr:       uint32(o.BlockSize / frame * o.Blocks),
		Retire_blk_tov: uint32(o.BlockTimeout / time.Millisecond),
	}
	if o.BlockSize < frame {
		req.Frame_size, req.Frame_nr = uint32(o.BlockSize), uint32(o.Blocks)
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("ring of %d × %d bytes: %w", o.Blocks, o.BlockSize, err)
	}
	ring, err := unix.Mmap(fd, 0, o.BlockSize*o.Blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mapping the ring: %w", err)
	}
	cp.ring = ring
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: cp.ifindex}); err != nil {
		return fmt.Errorf("binding to interface index %d: %w", cp.ifindex, err)
	}
	return nil
}

// Interface is the name of the captured interface.
func (cp *Capture) Interface() string { return cp.iface }

// Run counts frames until ctx is done, then counts what the kernel still
// holds for it (at most two BlockTimeouts), releases the socket and
// returns nil. A capture runs once. It returns an error if the interface
// goes away or the socket fails; what was counted stays counted.
func (cp *Capture) Run(ctx context.Context) error {
	if !cp.ran.CompareAndSwap(false, true) {
		return fmt.Errorf("netacct: capture on %s: already run", cp.iface)
	}
	cp.inRun.Store(true)
	defer func() {
		cp.release()
		cp.inRun.Store(false)
	}()
	cp.mu.Lock()
	closed := cp.ring == nil
	cp.mu.Unlock()
	if closed {
		return fmt.Errorf("netacct: capture on %s: closed before it ran", cp.iface)
	}
	// The loop blocks in poll(2), which holds a thread anyway; keeping it
	// lets the capture measure its own CPU time.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cp.cpuBase = threadCPU()
	defer cp.measureCPU()
	wait := int(min(cp.o.BlockTimeout, 100*time.Millisecond)/time.Millisecond) + 1
	var drainUntil time.Time
	blk, walked := 0, 0
	fds := []unix.PollFd{{Fd: int32(cp.fd), Events: unix.POLLIN | unix.POLLERR}}
	for {
		block := cp.ring[blk*cp.o.BlockSize : (blk+1)*cp.o.BlockSize]
		status := (*uint32)(unsafe.Pointer(&block[blockStatusOff]))
		if atomic.LoadUint32(status)&unix.TP_STATUS_USER != 0 {
			cp.walk(block)
			atomic.StoreUint32(status, unix.TP_STATUS_KERNEL)
			blk = (blk + 1) % cp.o.Blocks
			if walked++; walked%64 == 0 {
				cp.measureCPU()
			}
			continue
		}
		cp.measureCPU()
		if ctx.Err() != nil {
			if drainUntil.IsZero() {
				drainUntil = time.Now().Add(2*cp.o.BlockTimeout + 10*time.Millisecond)
			} else if time.Now().After(drainUntil) {
				cp.kernelStats()
				return nil
			}
		}
		fds[0].Revents = 0
		if _, err := unix.Poll(fds, wait); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("netacct: capture on %s: poll: %w", cp.iface, err)
		}
		if fds[0].Revents&unix.POLLERR != 0 {
			// Linux reports ENETDOWN when the interface is set down (the
			// capture resumes when it is up again) or removed.
			serr, err := unix.GetsockoptInt(cp.fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err == nil && serr != 0 {
				err = unix.Errno(serr)
			}
			if err != nil && !errors.Is(err, unix.ENETDOWN) && !errors.Is(err, unix.ENODEV) {
				return fmt.Errorf("netacct: capture on %s: socket error: %w", cp.iface, err)
			}
		}
		// A removed interface leaves the socket bound to none (the removal
		// itself may come without an error, after the interface was set
		// down). Asking the socket works whatever namespace this thread is
		// in.
		if sa, err := unix.Getsockname(cp.fd); err != nil || boundIndex(sa) != cp.ifindex {
			cp.kernelStats()
			return fmt.Errorf("%w: %s went away while captured: open a new capture when it is back", ErrNoInterface, cp.iface)
		}
	}
}

func boundIndex(sa unix.Sockaddr) int {
	if ll, ok := sa.(*unix.SockaddrLinklayer); ok {
		return ll.Ifindex
	}
	return -1
}

// walk counts the frames of a block the kernel handed over.
func (cp *Capture) walk(block []byte) {
	n := binary.NativeEndian.Uint32(block[12:16])
	off := int(binary.NativeEndian.Uint32(block[16:20]))
	for range n {
		if off+tpacket3HdrLen+20 > len(block) {
			return // a corrupt block: give it back rather than read past it
		}
		h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&block[off]))
		mac, netOff, snap := int(h.Mac), int(h.Net), int(h.Snaplen)
		if off+mac+snap > len(block) || mac < tpacket3HdrLen+20 {
			return
		}
		sll := block[off+tpacket3HdrLen : off+tpacket3HdrLen+20]
		hatype, pkttype := binary.NativeEndian.Uint16(sll[8:10]), sll[10]
		frame := block[off+mac : off+mac+snap]
		var ofl Offload
		if cp.offloads && mac >= tpacket3HdrLen+20+vnetHdrLen {
			v := block[off+mac-vnetHdrLen : off+mac]
			ofl = Offload{Type: v[1], Size: binary.NativeEndian.Uint16(v[4:6])}
		}
		cp.frames.Add(1)
		switch {
		case hatype == unix.ARPHRD_LOOPBACK && pkttype == unix.PACKET_OUTGOING:
			// lo shows each packet twice (sent, then received): keep one.
			cp.dec.c.duplicates.Add(1)
		case hatype == unix.ARPHRD_ETHER || hatype == unix.ARPHRD_LOOPBACK:
			cp.dec.Decode(layers.LinkTypeEthernet, frame, int(h.Len), ofl)
		case netOff >= mac && netOff-mac <= snap:
			// Other links (tun, GRE…): from the network header.
			cp.dec.Decode(layers.LinkTypeRaw, frame[netOff-mac:], int(h.Len)-(netOff-mac), ofl)
		default:
			cp.dec.c.undecodable.Add(1)
		}
		next := int(h.Next_offset)
		if next == 0 {
			return
		}
		off += next
	}
}

// measureCPU records the CPU time Run's thread spent since Run began.
func (cp *Capture) measureCPU() {
	if t := threadCPU(); t >= cp.cpuBase {
		cp.cpu.Store(t - cp.cpuBase)
	}
}

// threadCPU is the calling thread's CPU time (ns); 0 if unknown.
func threadCPU() int64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_THREAD, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// kernelStats adds the kernel's drop count (reset on each read).
func (cp *Capture) kernelStats() {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.fd < 0 {
		return
	}
	if st, err := unix.GetsockoptTpacketStatsV3(cp.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
		cp.drops += uint64(st.Drops)
	}
}

// Stats returns the capture's figures so far; safe while it runs.
func (cp *Capture) Stats() CaptureStats {
	cp.kernelStats()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return CaptureStats{Frames: cp.frames.Load(), Drops: cp.drops, Offloads: cp.offloads, CPU: time.Duration(cp.cpu.Load())}
}

// Close releases the socket and the ring of a capture that is not
// running (Run releases them itself when it returns: cancel its context to
// stop it). Closing twice is harmless.
func (cp *Capture) Close() error {
	if cp.inRun.Load() {
		return fmt.Errorf("netacct: capture on %s is running: cancel its context to stop it", cp.iface)
	}
	return cp.release()
}

func (cp *Capture) release() error {
	cp.closeOnce.Do(func() {
		cp.kernelStats()
		cp.mu.Lock()
		defer cp.mu.Unlock()
		if cp.ring != nil {
			cp.closeErr = unix.Munmap(cp.ring)
			cp.ring = nil
		}
		if err := unix.Close(cp.fd); cp.closeErr == nil {
			cp.closeErr = err
		}
		cp.fd = -1
	})
	return cp.closeErr
}
