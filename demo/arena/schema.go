package arena

import "github.com/tickwire/tickwire/replica"

// The arena's replica schema: what a client's replica.Model holds. Kinds
// goes out as KIND lines; the constants number the fields and events as
// they arrive in ENTER, DELTA, STATE, EVENT and ACK.

// Entity kinds of the arena's replica.World.
const (
	KindTank  = 1
	KindChest = 2
)

// Tank fields (after x and y).
const (
	TankHeading = replica.FieldFirst + iota
	TankHP
	TankDead
	TankScore
	TankInv0 // TankInv0 .. TankInv0+InvSlots-1: visible to the owner only
	// TankOpen is the id of the chest the tank has open, 0 if none:
	// visible to the owner only, like the inventory.
	TankOpen = TankInv0 + InvSlots
)

// Chest fields (after x and y).
const (
	ChestUsers = replica.FieldFirst + iota // how many tanks have it open
	ChestSlot0                             // ChestSlot0 .. +ChestSlots-1: visible to those with it open
	// ChestLocked is 1 while the chest is locked: OPEN then needs a key.
	ChestLocked = ChestSlot0 + ChestSlots
)

// Inventory and chest sizes.
const (
	InvSlots   = 4
	ChestSlots = 6
)

// Tank events.
const (
	EvHit  = 0 // damage taken this tick, summed over every shooter
	EvFire = 1 // the tank fired; value: the id of the tank hit, or 0
	EvDie  = 2 // the tank was destroyed; value: the id of the shooter
)

// Item codes of inventory and chest slots; 0 is empty.
const (
	ItemGold   = 1 // scores GoldScore when taken
	ItemGem    = 2 // scores GemScore when taken
	ItemAmmo   = 3 // APPLY: HeavyShells shells that do double damage
	ItemMedkit = 4 // APPLY: heals MedkitHeal
	ItemKey    = 5 // opens a locked chest (used up)
)

// ItemNames names the item codes of inventory and chest slots; 0 is
// empty.
var ItemNames = []string{"-", "gold", "gem", "ammo", "medkit", "key"}

// Kinds is the arena's replica schema.
var Kinds = []replica.KindDef{
	{Name: "tank", Fields: []string{"heading", "hp", "dead", "score", "inv0", "inv1", "inv2", "inv3", "open"},
		Events: []replica.EventDef{{Name: "hit", Merge: replica.MergeSum}, {Name: "fire", Merge: replica.MergeLast}, {Name: "die", Merge: replica.MergeLast}}},
	{Name: "chest", Fields: []string{"users", "slot0", "slot1", "slot2", "slot3", "slot4", "slot5", "locked"}},
}

// Fields every viewer may see; the rest are the owner's (a tank's
// inventory and open chest) or those of the tanks with the chest open (a
// chest's slots).
const (
	tankPublic  = uint16(1<<TankInv0 - 1)
	chestPublic = uint16(1<<ChestSlot0-1) | 1<<ChestLocked
)
