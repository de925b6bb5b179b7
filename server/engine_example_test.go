package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/coder/websocket"

	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/transport"
)

// An event-loop server: TCP clients (srv.Serve) and WebSocket clients
// (srv.WebSocketHandler) both live on the loop, with no goroutine per
// idle connection.
func ExampleServer_WebSocketHandler() {
	srv, err := server.New(server.Config{Engine: server.EngineEventLoop, Logger: quietLogger()}, newTestGame())
	if err != nil {
		panic(err)
	}
	defer srv.Shutdown(context.Background())
	mux := http.NewServeMux()
	mux.Handle("/ws", srv.WebSocketHandler(transport.WebSocketConfig{Logger: quietLogger()}))
	hs := httptest.NewServer(mux)
	defer hs.Close()

	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/ws", nil)
	if err != nil {
		panic(err)
	}
	defer ws.CloseNow()
	ws.Write(ctx, websocket.MessageText, []byte("PING 7\n"))
	_, reply, _ := ws.Read(ctx)
	fmt.Print(string(reply))
	// Output: PONG 7
}
