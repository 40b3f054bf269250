package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/stride-engine/stride/engine/flow"
	"gopkg.in/yaml.v3"
)

// Diagram describes f for the monitor page: its trigger, steps and
// on_error as a tree, each node with the file:line its trace entries carry
// and its lines of the file. It reads f's file, so what it shows is what
// an operator would open; Stale says when the file is no longer the
// version that runs.
func Diagram(f *flow.Flow) (FlowDiagram, error) {
	data, err := os.ReadFile(f.File)
	if err != nil {
		return FlowDiagram{}, fmt.Errorf("flow %s: %w", f.ID, err)
	}
	sum := sha256.Sum256(data)
	d := FlowDiagram{ID: f.ID, File: f.File, Version: f.Version, Stale: hex.EncodeToString(sum[:6]) != f.Version,
		Steps: []DiagramNode{}, OnError: []DiagramNode{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return d, fmt.Errorf("flow %s: %s is not a flow file any more", f.ID, f.File)
	}
	b := diagramBuilder{file: f.File, lines: strings.Split(string(data), "\n")}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		end := len(b.lines)
		if i+2 < len(root.Content) {
			end = root.Content[i+2].Line - 1
		}
		switch k.Value {
		case "trigger":
			if v.Kind == yaml.MappingNode && len(v.Content) >= 2 {
				d.Trigger = DiagramNode{Kind: v.Content[0].Value, At: b.at(v.Content[0]), YAML: b.snippet(k.Line, end)}
			}
		case "steps":
			d.Steps = b.steps(v, end)
		case "on_error":
			d.OnError = b.steps(v, end)
		}
	}
	return d, nil
}

type diagramBuilder struct {
	file  string
	lines []string
}

func (b *diagramBuilder) at(n *yaml.Node) string { return fmt.Sprintf("%s:%d", b.file, n.Line) }

// steps describes a list of steps whose text ends at line end (1-based,
// inclusive).
func (b *diagramBuilder) steps(list *yaml.Node, end int) []DiagramNode {
	out := []DiagramNode{}
	if !isStepList(list) {
		return out
	}
	for i, item := range list.Content {
		itemEnd := end
		if i+1 < len(list.Content) {
			itemEnd = list.Content[i+1].Line - 1
		}
		out = append(out, b.step(item, itemEnd))
	}
	return out
}

// step describes one item of a step list: `- kind: ...` with an optional
// name, or a bare `- kind`.
func (b *diagramBuilder) step(item *yaml.Node, end int) DiagramNode {
	if item.Kind == yaml.ScalarNode {
		return DiagramNode{Kind: item.Value, At: b.at(item), YAML: b.snippet(item.Line, end)}
	}
	n := DiagramNode{YAML: b.snippet(item.Line, end)}
	var val *yaml.Node
	for i := 0; i+1 < len(item.Content); i += 2 {
		k, v := item.Content[i], item.Content[i+1]
		if k.Value == "name" {
			n.Name = v.Value
		} else if flow.LookupStep(k.Value) != nil && n.Kind == "" {
			n.Kind, n.At, val = k.Value, b.at(k), v
		}
	}
	if val != nil {
		n.Branches = b.branches(n.Kind, val, end)
	}
	return n
}

// branches finds the nested step lists in a step's options: a route's
// branches (a list of mappings with when and steps, or otherwise), a
// split's or lock's steps.
func (b *diagramBuilder) branches(kind string, val *yaml.Node, end int) []DiagramBranch {
	var out []DiagramBranch
	switch val.Kind {
	case yaml.SequenceNode:
		for i, el := range val.Content {
			elEnd := end
			if i+1 < len(val.Content) {
				elEnd = val.Content[i+1].Line - 1
			}
			if el.Kind == yaml.MappingNode {
				out = append(out, b.mappingBranches(kind, el, elEnd)...)
			}
		}
	case yaml.MappingNode:
		out = b.mappingBranches(kind, val, end)
	}
	return out
}

func (b *diagramBuilder) mappingBranches(kind string, m *yaml.Node, end int) []DiagramBranch {
	var cond string
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i].Value; k == "when" || k == "xpath" {
			cond = k + " " + m.Content[i+1].Value
		}
	}
	var out []DiagramBranch
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if !isStepList(v) || len(v.Content) == 0 {
			continue
		}
		vEnd := end
		if i+2 < len(m.Content) {
			vEnd = m.Content[i+2].Line - 1
		}
		label := k.Value
		switch {
		case k.Value == "steps" && cond != "":
			label = cond
		case k.Value == "steps" && kind == "split":
			label = "for each item"
		}
		out = append(out, DiagramBranch{Label: label, Steps: b.steps(v, vEnd)})
	}
	return out
}

// isStepList reports whether n is a list whose items are steps: mappings
// with a step kind key, or bare step kinds.
func isStepList(n *yaml.Node) bool {
	if n == nil || n.Kind != yaml.SequenceNode {
		return false
	}
	for _, item := range n.Content {
		switch item.Kind {
		case yaml.ScalarNode:
			if flow.LookupStep(item.Value) == nil {
				return false
			}
		case yaml.MappingNode:
			found := false
			for i := 0; i < len(item.Content); i += 2 {
				if flow.LookupStep(item.Content[i].Value) != nil {
					found = true
				}
			}
			if !found {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// snippet returns lines from..to (1-based, inclusive) without trailing
// blank or comment lines (those introduce what follows), dedented to the
// least indented line (a step keeps its list dash).
func (b *diagramBuilder) snippet(from, to int) string {
	to = min(to, len(b.lines))
	for to > from && isBlankOrComment(b.lines[to-1]) {
		to--
	}
	if from < 1 || from > to {
		return ""
	}
	lines := append([]string(nil), b.lines[from-1:to]...)
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " "))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	for i, l := range lines {
		if len(l) >= indent && indent > 0 {
			lines[i] = l[indent:]
		}
	}
	return strings.Join(lines, "\n")
}

func isBlankOrComment(l string) bool {
	t := strings.TrimSpace(l)
	return t == "" || strings.HasPrefix(t, "#")
}
