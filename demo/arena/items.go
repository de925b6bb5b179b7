package arena

import (
	"strconv"
	"strings"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
)

// Items. Chests hold them; TAKE moves one to the tank: gold and gems go
// straight to the score, the others to the inventory, where APPLY uses a
// medkit (heals) or ammo (heavy shells), and a key opens a locked chest on
// OPEN. Every RestockPeriod each closed chest gets a new item, so chests
// keep mattering.

// findItem returns the first inventory slot of t holding item (0: an
// empty slot), or -1.
func (g *sim) findItem(t *tank, item int32) int {
	for i := 0; i < InvSlots; i++ {
		if g.w.Get(t.id, TankInv0+i) == item {
			return i
		}
	}
	return -1
}

// itemHint tells a player who just took item what it does.
func itemHint(item int32) string {
	switch item {
	case ItemAmmo:
		return "; APPLY ammo loads 3 heavy shells"
	case ItemMedkit:
		return "; APPLY medkit heals 50 hp"
	case ItemKey:
		return "; a key opens a locked chest (L on the map): OPEN it"
	}
	return ""
}

// apply uses the inventory item named by what: a slot 0-3 or an item
// name.
func (g *sim) apply(pl *player, what string) error {
	t := pl.tank
	if t.dead() {
		return errDead
	}
	slot := -1
	if n, err := strconv.Atoi(what); err == nil {
		if n < 0 || n >= InvSlots {
			return server.Refuse(msg.CodeBadField, "APPLY item: want an inventory slot 0-%d or an item name (medkit, ammo), got %q", InvSlots-1, what)
		}
		slot = n
	} else {
		item := -1
		for i, name := range ItemNames[1:] {
			if strings.EqualFold(name, what) {
				item = i + 1
			}
		}
		if item < 0 {
			return server.Refuse(msg.CodeBadField, "APPLY item: want an inventory slot 0-%d or an item name (medkit, ammo), got %q", InvSlots-1, what)
		}
		if slot = g.findItem(t, int32(item)); slot < 0 {
			return server.Refuse("empty", "you have no %s; inventory %s", ItemNames[item], g.items(t.id, TankInv0, InvSlots))
		}
	}
	item := g.w.Get(t.id, TankInv0+slot)
	switch item {
	case 0:
		return server.Refuse("empty", "inventory slot %d is empty; inventory %s", slot, g.items(t.id, TankInv0, InvSlots))
	case ItemMedkit:
		hp := g.w.Get(t.id, TankHP)
		if hp >= MaxHP {
			return server.Refuse("no_effect", "your hp is already %d; keep the medkit for later", hp)
		}
		hp = min(hp+MedkitHeal, MaxHP)
		g.w.Set(t.id, TankHP, hp)
		g.w.Set(t.id, TankInv0+slot, 0)
		g.gone(t.zone, ItemMedkit)
		g.note(pl, "medkit used: hp %d", hp)
	case ItemAmmo:
		if t.shells >= MaxShells {
			return server.Refuse("no_effect", "you already carry %d heavy shells, the most a tank holds", t.shells)
		}
		t.shells = min(t.shells+HeavyShells, MaxShells)
		g.w.Set(t.id, TankInv0+slot, 0)
		g.gone(t.zone, ItemAmmo)
		g.note(pl, "ammo loaded: %d heavy shells; each hit with one does %d damage", t.shells, 2*Damage)
	case ItemKey:
		return server.Refuse("no_effect", "a key is used by opening a locked chest (L on the map): OPEN <chest id>")
	default:
		// Gold and gems score when taken and never stay in an inventory;
		// anything else has no use.
		return server.Refuse("no_effect", "%s cannot be applied", itemName(item))
	}
	return nil
}

func itemName(item int32) string {
	if item < 0 || int(item) >= len(ItemNames) {
		return "item " + strconv.Itoa(int(item))
	}
	return ItemNames[item]
}

// restock gives every closed chest one new item in its first empty slot,
// and locks again the chests that were unlocked.
func (g *sim) restock() {
	for _, id := range g.chestIDs {
		c := g.chests[id]
		if g.w.Get(id, ChestUsers) != 0 || !g.live(c.zone) {
			continue
		}
		if c.lockable {
			g.w.Set(id, ChestLocked, 1)
		}
		for s := 0; s < ChestSlots; s++ {
			if g.w.Get(id, ChestSlot0+s) == 0 {
				item := int32(1 + g.loot.IntN(len(ItemNames)-1))
				if c.lockable && item == ItemGold {
					item = ItemGem
				}
				g.w.Set(id, ChestSlot0+s, item)
				g.created(c.zone, item)
				break
			}
		}
	}
}
