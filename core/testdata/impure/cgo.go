package impure

// #include <stdlib.h>
import "C" // want: forbidden-import

func cgo() { C.free(nil) }
