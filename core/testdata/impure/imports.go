package impure

import (
	_ "crypto/rand"   // want: forbidden-import
	_ "crypto/sha256" // allowed
	_ "database/sql"  // want: forbidden-import
	_ "encoding/xml"  // allowed
	_ "expvar"        // want: forbidden-import
	_ "io"            // allowed
	_ "io/fs"         // want: forbidden-import
	_ "io/ioutil"     // want: forbidden-import
	_ "log"           // want: forbidden-import
	_ "log/slog"      // want: forbidden-import
	_ "math/rand"     // want: forbidden-import
	_ "math/rand/v2"  // allowed: only its global functions are forbidden
	_ "net"           // want: forbidden-import
	_ "net/http"      // want: forbidden-import
	_ "net/netip"     // pure value type: allowed
	_ "net/url"       // pure value type: allowed
	_ "os"            // want: forbidden-import
	_ "os/exec"       // want: forbidden-import
	_ "os/signal"     // want: forbidden-import
	_ "plugin"        // want: forbidden-import
	_ "runtime"       // want: forbidden-import
	_ "runtime/debug" // want: forbidden-import
	_ "sync"          // want: forbidden-import
	_ "sync/atomic"   // want: forbidden-import
	_ "syscall"       // want: forbidden-import
	_ "unsafe"        // want: forbidden-import

	_ "github.com/slapgo/slapgo/core/model" // allowed: core imports core

	_ "github.com/slapgo/slapgo/master/api" // want: outside-import
	_ "github.com/spf13/cobra"              // want: outside-import

	. "strings" // want: dot-import
)

var _ = Fields
