package netacct

import (
	"errors"
	"maps"
	"slices"

	"github.com/slapgo/slapgo/core/account"
)

// Errors of captures.
var (
	// ErrNoInterface: the interface to capture does not exist.
	ErrNoInterface = errors.New("netacct: no such network interface")
	// ErrPermission: capturing needs CAP_NET_RAW.
	ErrPermission = errors.New("netacct: not allowed to capture")
)

// Titles of the movements Movements writes.
const (
	TitleNetworkIn  = "Network bytes received"
	TitleNetworkOut = "Network bytes sent"
)

// Movements turns the counts of a period (Counter.EndPeriod) into usage
// journal movements, per partition: network_in_bytes and
// network_out_bytes (account.ResourceNetworkInBytes/OutBytes, counted in
// bytes: account.DefaultUnit), in that order; a zero quantity is left
// out, and so is a partition with no traffic. Price and VAT are left for
// the master. Exact up to 2^53 bytes per partition and period.
func Movements(period map[string]Counts) map[string][]account.JournalMovement {
	out := map[string][]account.JournalMovement{}
	for _, id := range slices.Sorted(maps.Keys(period)) {
		c := period[id]
		var ms []account.JournalMovement
		if c.InBytes > 0 {
			ms = append(ms, account.JournalMovement{Resource: account.ResourceNetworkInBytes, Title: TitleNetworkIn, Quantity: float64(c.InBytes)})
		}
		if c.OutBytes > 0 {
			ms = append(ms, account.JournalMovement{Resource: account.ResourceNetworkOutBytes, Title: TitleNetworkOut, Quantity: float64(c.OutBytes)})
		}
		if len(ms) > 0 {
			out[id] = ms
		}
	}
	return out
}
