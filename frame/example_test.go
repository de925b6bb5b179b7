package frame_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/tickwire/tickwire/frame"
)

func ExampleNewReader() {
	// A telnet client: CRLF line endings, a keepalive, then an over-long
	// line. Complete messages before the long one are still returned.
	src := strings.NewReader("AUTH guest\r\n\r\nPING 1\n" + strings.Repeat("x", 100) + "\n")
	r := frame.NewReader(src, 64)
	for {
		m, err := r.Next()
		if err != nil {
			fmt.Println("error:", err, err == frame.ErrTooLong || err == io.EOF)
			return
		}
		fmt.Printf("%q\n", m)
	}
	// Output:
	// "AUTH guest"
	// "PING 1"
	// error: frame: message too long true
}
