package frame_test

import (
	"fmt"

	"github.com/tickwire/tickwire/frame"
)

func ExampleNewParser() {
	// An event loop hands over bytes as they arrive, cut anywhere.
	p := frame.NewParser(64)
	keepalives := 0
	p.OnKeepalive = func() { keepalives++ }
	emit := func(m []byte) error {
		fmt.Printf("%q\n", m)
		return nil
	}
	for _, chunk := range []string{"AUTH gu", "est\r\n\r\nPI", "NG 1\nPART"} {
		if err := p.Feed([]byte(chunk), emit); err != nil {
			fmt.Println("error:", err)
		}
	}
	fmt.Println("keepalives:", keepalives, "held:", p.Buffered())
	// Output:
	// "AUTH guest"
	// "PING 1"
	// keepalives: 1 held: 4
}
