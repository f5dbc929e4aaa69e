package impure

import (
	"fmt"
	"path/filepath"
)

func effects(root string) {
	go func() {}()           // want: goroutine
	go effects(root)         // want: goroutine
	fmt.Println(root)        // want: stdout
	fmt.Printf("%s\n", root) // want: stdout
	fmt.Print(root)          // want: stdout
	println(root)            // want: stdout
	print(root)              // want: stdout

	_, _ = filepath.Abs(root)          // want: filesystem
	_, _ = filepath.EvalSymlinks(root) // want: filesystem
	_, _ = filepath.Glob(root)         // want: filesystem
	_ = filepath.Walk(root, nil)       // want: filesystem
	_ = filepath.WalkDir(root, nil)    // want: filesystem
}

// pureEffects is what core code does instead, and is accepted.
func pureEffects(root string, n int) (string, error) {
	dir := filepath.Join(root, fmt.Sprintf("slappart%d", n))
	if filepath.Base(dir) == "" {
		return "", fmt.Errorf("partition %d: empty directory name under %q", n, root)
	}
	return filepath.Clean(dir), nil
}
