package weights

import (
	"fmt"
	"strings"
)

// Health is what is known of one target group when okra is about to give
// it weight.
type Health struct {
	// Found: the target group exists (discovery found it among the Cell's).
	Found bool
	// Healthy is its number of healthy targets.
	Healthy int
}

// Rerouted is one target group whose intended weight Reroute moved.
type Rerouted struct {
	ARN string
	// Weight is the weight the intended action gave it.
	Weight int32
	// Missing: the group no longer exists, so it left the action; else it
	// stays at weight 0.
	Missing bool
	// Healthy is its number of healthy targets (0 when missing).
	Healthy int
}

func (r Rerouted) String() string {
	if r.Missing {
		return fmt.Sprintf("%s (weight %d): missing", r.ARN, r.Weight)
	}
	return fmt.Sprintf("%s (weight %d): %d healthy", r.ARN, r.Weight, r.Healthy)
}

// Routing is the action Reroute returns: the intended one when every group
// that carries weight can take it, else the intent moved onto the groups
// that can.
type Routing struct {
	Forward Forward
	// Moved lists the groups that lost their weight (or left the action),
	// in the intended action's order; empty when nothing was substituted.
	Moved []Rerouted
	// Into lists the groups that received the moved weight.
	Into []string
	// MinHealthy is the minimum the groups were held to.
	MinHealthy int
}

// Substituted reports whether the routing differs from the intent.
func (r Routing) Substituted() bool { return len(r.Moved) > 0 }

// Reason says, in one sentence, what was substituted and why.
func (r Routing) Reason() string {
	if !r.Substituted() {
		return ""
	}
	moved := make([]string, 0, len(r.Moved))
	for _, m := range r.Moved {
		moved = append(moved, m.String())
	}
	return fmt.Sprintf("cannot carry traffic (fewer than %d healthy targets, or missing): %s; their share went to %s",
		r.MinHealthy, strings.Join(moved, ", "), strings.Join(r.Into, ", "))
}

// NoRoutableGroupError says a side of the intended action has weight but
// none of its weighted groups can take traffic: there is nowhere safe to
// put that side's share.
type NoRoutableGroupError struct {
	// Side names the side ("" when the action has one).
	Side       string
	Unusable   []Rerouted
	MinHealthy int
}

func (e *NoRoutableGroupError) Error() string {
	parts := make([]string, 0, len(e.Unusable))
	for _, u := range e.Unusable {
		parts = append(parts, u.String())
	}
	side := ""
	if e.Side != "" {
		side = " on the " + e.Side + " side"
	}
	return fmt.Sprintf("no target group%s can carry traffic (each needs at least %d healthy targets): %s", side, e.MinHealthy, strings.Join(parts, ", "))
}

// Reroute makes sure intended never routes to nothing: every target group
// that carries weight in it must be found and have at least minHealthy
// healthy targets (health[arn]). A group that cannot has its weight moved
// onto the groups of the same side (side(arn); nil puts every group on
// one side) that carry weight and can: the side keeps its total, spread
// evenly over them. A missing group leaves the action (ELBv2 refuses an
// action naming a target group that does not exist); an unhealthy one
// stays at weight 0. Groups at weight 0 are never given weight.
//
// When a side has weight to move and no group able to take it, Reroute
// returns a *NoRoutableGroupError and the caller must not write anything.
// Stickiness is kept. The result passes Validate when intended does.
func Reroute(intended Forward, health map[string]Health, minHealthy int, side func(arn string) string) (Routing, error) {
	if side == nil {
		side = func(string) string { return "" }
	}
	out := Routing{MinHealthy: minHealthy}
	usable := func(arn string) bool {
		h := health[arn]
		return h.Found && h.Healthy >= minHealthy
	}
	type group struct {
		total     int32
		moved     []Rerouted
		receivers []string
	}
	sides := map[string]*group{}
	var order []string
	for _, tg := range intended.TargetGroups {
		s := side(tg.ARN)
		g, ok := sides[s]
		if !ok {
			g = &group{}
			sides[s] = g
			order = append(order, s)
		}
		g.total += tg.Weight
		if usable(tg.ARN) {
			if tg.Weight > 0 {
				g.receivers = append(g.receivers, tg.ARN)
			}
			continue
		}
		h := health[tg.ARN]
		if tg.Weight > 0 || !h.Found {
			g.moved = append(g.moved, Rerouted{ARN: tg.ARN, Weight: tg.Weight, Missing: !h.Found, Healthy: h.Healthy})
		}
	}
	spread := map[string]int32{}
	for _, s := range order {
		g := sides[s]
		lost := int32(0)
		for _, m := range g.moved {
			lost += m.Weight
		}
		out.Moved = append(out.Moved, g.moved...)
		if lost == 0 {
			continue
		}
		if len(g.receivers) == 0 {
			return Routing{}, &NoRoutableGroupError{Side: s, Unusable: g.moved, MinHealthy: minHealthy}
		}
		out.Into = append(out.Into, g.receivers...)
		for _, tw := range appendEven(nil, g.receivers, g.total) {
			spread[tw.ARN] = min(tw.Weight, MaxWeight)
		}
	}
	out.Forward = Forward{TargetGroups: []TargetGroupWeight{}}
	if intended.Stickiness != nil {
		st := *intended.Stickiness
		out.Forward.Stickiness = &st
	}
	for _, tg := range intended.TargetGroups {
		h := health[tg.ARN]
		switch {
		case !h.Found:
			continue // missing: leaves the action
		case !usable(tg.ARN):
			tg.Weight = 0
		default:
			if w, ok := spread[tg.ARN]; ok {
				tg.Weight = w
			}
		}
		out.Forward.TargetGroups = append(out.Forward.TargetGroups, tg)
	}
	return out, nil
}
