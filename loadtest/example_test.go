package loadtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/tickwire/tickwire/loadtest"
)

// Run 200 bots in rooms of 10, each moving 10 times a second for 10 s,
// against a relay listening on 127.0.0.1:7777, and print the summary.
func ExampleRun() {
	sum, err := loadtest.Run(context.Background(), loadtest.Config{
		Addr:     "127.0.0.1:7777",
		N:        200,
		RoomSize: 10,
		MoveRate: 10,
		Duration: 10 * time.Second,
		RampUp:   time.Second,
		Progress: os.Stderr,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("delivered %.1f%%, p99 %.1f ms, final state correct: %v\n",
		100*sum.DeliveredRatio, sum.Latency.P99, sum.FinalStateCorrect)
	out, _ := json.MarshalIndent(sum, "", "  ")
	fmt.Println(string(out))
}
