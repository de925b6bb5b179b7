package msg

// Built-in protocol messages. Every Registry starts with these; ids 1-31 are
// reserved for tickwire. They are declared exactly like game messages.

// Help asks for the list of commands; the server answers with INFO lines.
type Help struct{}

// Ping asks for a Pong carrying the same token (e.g. a timestamp, to measure
// round-trip time).
type Ping struct {
	Token string `tw:"token,optional,max=64"`
}

// Pong answers a Ping.
type Pong struct {
	Token string `tw:"token,optional,max=64"`
}

// Auth logs in. With an auth service, Secret is a one-time token from
// POST /v1/login; "AUTH guest" logs in as a guest where guests are enabled.
type Auth struct {
	User   string `tw:"user,max=64"`
	Secret string `tw:"secret,optional,max=256"`
}

// Welcome confirms a login: the player's id and display name.
type Welcome struct {
	ID   uint64 `tw:"id"`
	Name string `tw:"name,max=64"`
}

// Quit asks the server to close the connection; it answers BYE quit.
type Quit struct{}

// Bye is the last message before the server closes a connection.
type Bye struct {
	Reason string `tw:"reason,max=64"`
}

// Use switches the connection's encoding: text, json or msgpack. The server
// answers USING in the old encoding, and everything after that line travels
// in the new one, in both directions.
type Use struct {
	Encoding string `tw:"encoding,max=16"`
}

// Using confirms an encoding switch.
type Using struct {
	Encoding string `tw:"encoding,max=16"`
}

// Log ships a client log line to the server's log.
type Log struct {
	Level string `tw:"level,max=8"`
	Text  string `tw:"text,max=512,rest"`
}

// Notice is a line of human-readable information (the INFO message), such as
// the answer to HELP.
type Notice struct {
	Text string `tw:"text,max=1024,rest"`
}

// Err reports a refused message: a short snake_case code and a human text.
type Err struct {
	Code string `tw:"code,max=32"`
	Text string `tw:"text,optional,max=512,rest"`
}

// Stats asks the server for its load figures; it answers SERVERSTATS. A
// client's net graph sends it once a second or so.
type Stats struct{}

// ServerStats reports the server's load: how long its last tick took, its
// tick rate and how many connections it has.
type ServerStats struct {
	TickUS   uint32 `tw:"tick_us"`
	TickRate uint16 `tw:"tick_rate"`
	Conns    uint32 `tw:"conns"`
}

// Seat gives a logged-in client the token that resumes its seat after a
// dropped connection (RESUME), and how long the server holds the seat. It
// follows every WELCOME when the server holds seats; each resume replaces
// the token.
type Seat struct {
	Token  string `tw:"token,max=64"`
	HoldMS uint32 `tw:"hold_ms"`
}

// Resume logs a new connection back into a held seat: the player's name
// and the token of its latest SEAT. It is sent instead of AUTH.
type Resume struct {
	User  string `tw:"user,max=64"`
	Token string `tw:"token,max=64"`
}

// Limits tells a logged-in client the server's settings that a client must
// follow: the tick rate (for prediction) and the largest message it may
// send. It follows WELCOME and SEAT.
type Limits struct {
	TickRate   uint16 `tw:"tick_rate"`
	MaxMessage uint32 `tw:"max_message"`
}

// Moved tells a logged-in client that its player now lives on another
// server of the cluster (a portal into a zone another node runs, a login
// on a node that does not run the player's zone, a failover): dial Addr
// (TCP, host:port) or WS (a ws:// or wss:// URL), whichever transport the
// client uses, and send RESUME <name> <Ticket>. A Ticket of "-" means
// "resume with the token of your latest SEAT". The server closes the
// connection after it (BYE moved).
type Moved struct {
	Addr   string `tw:"addr,max=255"`
	WS     string `tw:"ws,max=255"`
	Ticket string `tw:"ticket,max=64"`
}

// Built-in message ids.
const (
	IDHelp    = 1
	IDPing    = 2
	IDPong    = 3
	IDAuth    = 4
	IDWelcome = 5
	IDQuit    = 6
	IDBye     = 7
	IDUse     = 8
	IDUsing   = 9
	IDLog     = 10
	IDInfo    = 11
	IDErr     = 12
	IDStats   = 13
	IDSrvStat = 14
	IDSeat    = 15
	// IDResume sits after the replica package's ids (16-27).
	IDResume = 28
	IDLimits = 29
	IDMoved  = 30
	// FirstGameID is the lowest id a game may use; ids below it are
	// reserved for tickwire (built-ins and the replica package).
	FirstGameID = 32
)

func defineBuiltins(r *Registry) {
	// Rates are per connection: generous for what a client does in normal
	// play, tight where one message makes the server send many (HELP) or
	// do real work (AUTH, RESUME).
	DefineReserved[Help](r, Info{ID: IDHelp, Name: "HELP", Dir: ToServer, Doc: "list the commands", Causes: []string{"INFO"}, Rate: 1, Burst: 2})
	DefineReserved[Ping](r, Info{ID: IDPing, Name: "PING", Dir: ToServer, Doc: "ask for a PONG with the same token", Causes: []string{"PONG"}, Rate: 20, Burst: 40})
	DefineReserved[Pong](r, Info{ID: IDPong, Name: "PONG", Dir: ToClient, Doc: "answer to PING"})
	DefineReserved[Auth](r, Info{ID: IDAuth, Name: "AUTH", Dir: ToServer, Doc: "log in: AUTH guest, or AUTH <user> <token from the auth service>", Causes: []string{"WELCOME", "SEAT", "ERR"}, Rate: 1, Burst: 5})
	DefineReserved[Welcome](r, Info{ID: IDWelcome, Name: "WELCOME", Dir: ToClient, Doc: "login accepted: your id and name"})
	DefineReserved[Quit](r, Info{ID: IDQuit, Name: "QUIT", Dir: ToServer, Doc: "close the connection", Causes: []string{"BYE"}})
	DefineReserved[Bye](r, Info{ID: IDBye, Name: "BYE", Dir: ToClient, Doc: "the server is closing the connection, and why"})
	DefineReserved[Use](r, Info{ID: IDUse, Name: "USE", Dir: ToServer, Doc: "switch encoding: USE text|json|msgpack", Causes: []string{"USING"}, Rate: 2, Burst: 4})
	DefineReserved[Using](r, Info{ID: IDUsing, Name: "USING", Dir: ToClient, Doc: "encoding switched; what follows is in the new encoding"})
	DefineReserved[Log](r, Info{ID: IDLog, Name: "LOG", Dir: ToServer, Doc: "write to the server log: LOG debug|info|warn|error <text>"})
	DefineReserved[Notice](r, Info{ID: IDInfo, Name: "INFO", Dir: ToClient, Doc: "human-readable information"})
	DefineReserved[Err](r, Info{ID: IDErr, Name: "ERR", Dir: ToClient, Doc: "a refused message: ERR <code> <text>"})
	DefineReserved[Stats](r, Info{ID: IDStats, Name: "STATS", Dir: ToServer, Doc: "ask for the server's load figures", Causes: []string{"SERVERSTATS"}, Rate: 4, Burst: 8})
	DefineReserved[ServerStats](r, Info{ID: IDSrvStat, Name: "SERVERSTATS", Dir: ToClient, Doc: "server load: last tick duration in microseconds, tick rate, connections"})
	DefineReserved[Seat](r, Info{ID: IDSeat, Name: "SEAT", Dir: ToClient, Doc: "your resume token and how long the server holds your seat if the connection drops"})
	DefineReserved[Limits](r, Info{ID: IDLimits, Name: "LIMITS", Dir: ToClient, Doc: "the server's tick rate and the largest message you may send, in bytes"})
	DefineReserved[Moved](r, Info{ID: IDMoved, Name: "MOVED", Dir: ToClient, Doc: "your player moved to another server: reconnect to addr (TCP) or ws (WebSocket) and RESUME <name> <ticket>; ticket - means your latest SEAT token"})
	DefineReserved[Resume](r, Info{ID: IDResume, Name: "RESUME", Dir: ToServer, Doc: "take your seat back after a dropped connection: RESUME <name> <token from SEAT>", Causes: []string{"WELCOME", "SEAT", "ERR", "MOVED"}, Rate: 1, Burst: 5})
}
