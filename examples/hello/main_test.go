package main

import (
	"fmt"
	"testing"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/servertest"
)

func TestMove(t *testing.T) {
	reg := msg.NewRegistry()
	register(reg)
	s := servertest.New(t, server.Config{Registry: reg}, newGame())
	ann, bob := s.Dial(msg.Text), s.Dial(msg.JSON)
	ann.Login()
	bob.Login()

	ann.SendLine("@9 MOVE 10 20")
	s.Tick()
	ann.ExpectLine(fmt.Sprintf("@9 POS %d 10 20", ann.ID()))
	bob.Expect(&Pos{ID: ann.ID(), X: 10, Y: 20})
	bob.ExpectNothing()
}
