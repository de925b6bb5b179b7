package cluster

import (
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tickwire/tickwire/store"
)

// Cluster-wide services over plain NATS subjects (no JetStream): who is
// online, a global chat channel, and bans. Each is best effort and
// bounded: a node that does not answer in time is left out of WHO, a chat
// line is delivered at most once, and a ban heard late is still in the
// database, which every node reloads every few seconds.

// whoWait is how long Who collects answers.
const whoWait = 250 * time.Millisecond

// maxWho caps the names one node answers WHO with.
const maxWho = 1000

// maxChat caps a chat line, in bytes.
const maxChat = 400

// Online is one node's answer to WHO.
type Online struct {
	Node    string   `json:"node"`
	Players []string `json:"players"`
	More    int      `json:"more,omitempty"` // players left out beyond maxWho
}

// Who asks every node for its players and collects the answers that come
// within whoWait (this node's own included), sorted by node. Not on the
// tick goroutine: it waits.
func (n *Node) Who(ctx context.Context) ([]Online, error) {
	inbox := nats.NewInbox()
	sub, err := n.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := n.nc.PublishRequest(n.subject("who"), inbox, nil); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, whoWait)
	defer cancel()
	var out []Online
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			break // the wait is over
		}
		var o Online
		if json.Unmarshal(m.Data, &o) == nil && o.Node != "" {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b Online) int { return strings.Compare(a.Node, b.Node) })
	return out, nil
}

func (n *Node) onWho(m *nats.Msg) {
	o := Online{Node: n.cfg.Node}
	for _, s := range n.srv.Sessions() {
		if s.Name == "" {
			continue
		}
		if len(o.Players) >= maxWho {
			o.More++
			continue
		}
		o.Players = append(o.Players, s.Name)
	}
	slices.Sort(o.Players)
	data, _ := json.Marshal(o)
	_ = m.Respond(data)
}

type chatMsg struct {
	From string `json:"from"`
	Text string `json:"text"`
	Node string `json:"node"`
}

// Chat sends a line to every node's players (OnChat). It does not wait.
func (n *Node) Chat(from, text string) error {
	if len(text) > maxChat {
		text = text[:maxChat]
	}
	data, _ := json.Marshal(chatMsg{From: from, Text: text, Node: n.cfg.Node})
	return n.nc.Publish(n.subject("chat"), data)
}

// OnChat sets what runs for every chat line of the cluster, this node's
// own included. fn runs on a NATS goroutine: to reach players, go through
// server.Server.Call. Set it before Start.
func (n *Node) OnChat(fn func(from, text string)) { n.chat = fn }

func (n *Node) onChat(m *nats.Msg) {
	var c chatMsg
	if json.Unmarshal(m.Data, &c) != nil || c.From == "" || len(c.Text) > maxChat || n.chat == nil {
		return
	}
	n.chat(c.From, c.Text)
}

// Bans: a node that bans an address tells the others, which apply it at
// once (guard.Guard.Apply): the address's sessions end on every node within
// the server's once-a-second ban sweep. The database stays the record.

type banMsg struct {
	IP      string    `json:"ip"`
	Reason  string    `json:"reason"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Node    string    `json:"node"`
}

// Banner is the part of guard.Guard the node needs.
type Banner interface{ Apply(b store.Ban) }

// ShareBans makes this node apply the bans other nodes announce to g.
// Pair it with guard.Config.OnBan = node.AnnounceBan. Set it before Start.
func (n *Node) ShareBans(g Banner) { n.banner = g }

// AnnounceBan tells the other nodes about a ban this node made. It is
// meant for guard.Config.OnBan and never blocks.
func (n *Node) AnnounceBan(b store.Ban) {
	data, _ := json.Marshal(banMsg{IP: b.IP.String(), Reason: b.Reason, Created: b.CreatedAt, Expires: b.ExpiresAt, Node: n.cfg.Node})
	_ = n.nc.Publish(n.subject("ban"), data)
}

func (n *Node) onBan(m *nats.Msg) {
	var b banMsg
	if json.Unmarshal(m.Data, &b) != nil || b.Node == n.cfg.Node || n.banner == nil {
		return
	}
	ip, err := netip.ParseAddr(b.IP)
	if err != nil {
		return
	}
	n.banner.Apply(store.Ban{IP: ip, Reason: b.Reason, CreatedAt: b.Created, ExpiresAt: b.Expires, Offences: 1})
}
