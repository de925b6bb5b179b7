package msg_test

import (
	"fmt"

	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/msg"
)

// Goto is a game's own message: one struct, with names and limits in tags.
type Goto struct {
	X    int32  `tw:"x,min=0,max=4095"`
	Y    int32  `tw:"y,min=0,max=4095"`
	Note string `tw:"note,optional,rest,max=32"`
}

func ExampleDefine() {
	reg := msg.NewRegistry()
	typ := msg.Define[Goto](reg, msg.Info{ID: 40, Name: "GOTO", Dir: msg.ToServer, Doc: "walk to x y"})
	fmt.Println(typ.Usage())

	// Every encoding now decodes it, checking the limits.
	env, err := reg.Decode(msg.Text, []byte("@3 goto 10 20 meet me here"), msg.ToServer)
	fmt.Printf("%s %+v rid=%d err=%v\n", env.Type.Name, *env.Msg.(*Goto), env.RID, err)
	env, err = reg.Decode(msg.JSON, []byte(`{"type":"GOTO","x":1,"y":2}`), msg.ToServer)
	fmt.Printf("%s %+v err=%v\n", env.Type.Name, *env.Msg.(*Goto), err)
	_, err = reg.Decode(msg.Text, []byte("GOTO 5000 1"), msg.ToServer)
	fmt.Println(err)
	// Output:
	// GOTO x y [note...]
	// GOTO {X:10 Y:20 Note:meet me here} rid=3 err=<nil>
	// GOTO {X:1 Y:2 Note:} err=<nil>
	// bad_field GOTO x: must be <= 4095, got 5000; valid: 0 to 4095 (usage: GOTO x y [note...]) - walk to x y
}

func ExampleCodec_Append() {
	reg := msg.NewRegistry()
	arena.Register(reg)
	pos := &arena.Pos{ID: 7, X: 100, Y: 200}
	for _, enc := range msg.Encodings {
		b, err := reg.NewCodec(enc).Append(nil, pos, 0)
		if err != nil {
			panic(err)
		}
		if enc == msg.MsgPack {
			fmt.Printf("%-7s % x\n", enc, b)
		} else {
			fmt.Printf("%-7s %q\n", enc, b)
		}
	}
	// Output:
	// text    "POS 7 100 200\n"
	// json    "{\"type\":\"POS\",\"id\":7,\"x\":100,\"y\":200}\n"
	// msgpack 05 54 07 64 cc c8
}
