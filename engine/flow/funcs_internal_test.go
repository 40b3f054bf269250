package flow

import (
	"strings"
	"testing"

	"github.com/antchfx/xmlquery"
)

func TestXPathNodesGivesAttributesNotTheirElements(t *testing.T) {
	doc, err := xmlquery.Parse(strings.NewReader(`<messages><message id="u1"><a>x</a></message><message id="u2"/></messages>`))
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := XPathNodes(doc, "/messages/message/@id")
	if err != nil || len(nodes) != 2 || nodes[0].InnerText() != "u1" || nodes[1].InnerText() != "u2" || nodes[0].Type != xmlquery.AttributeNode {
		t.Fatalf("nodes %v err %v", nodes, err)
	}
	nodes, _ = XPathNodes(doc, "/messages/message")
	if len(nodes) != 2 || nodes[0].Data != "message" || nodes[0].SelectAttr("id") != "u1" {
		t.Fatalf("element nodes %v", nodes)
	}
}
