package steps

import (
	"context"
	"errors"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// datastoreGetConfig reads one entry of a data store.
type datastoreGetConfig struct {
	Store       string         `yaml:"store" required:"true" doc:"The data store's name."`
	ID          *flow.Template `yaml:"id" required:"true" doc:"The entry's id."`
	Into        string         `yaml:"into" default:"body" doc:"body (the stored body, its content type and properties are restored) or property.NAME (decoded JSON, else text)."`
	Missing     string         `yaml:"missing" default:"fail" enum:"fail,skip" doc:"A missing entry fails the step, or with skip sets the found property to false and goes on."`
	Found       string         `yaml:"found" default:"found" doc:"The property set to true or false when missing is skip."`
	DeleteAfter bool           `yaml:"delete_after" doc:"Delete the entry once read (CPI's Delete On Completion of a Get)."`
}

type datastoreGetStep struct {
	c    *datastoreGetConfig
	into intoTarget
}

func init() {
	flow.RegisterStep(flow.StepKind[datastoreGetConfig]{
		Name:    "datastore_get",
		Summary: "Reads one entry of a data store into the body or a property (CPI's Data Store Get).",
		Doc:     "A missing or expired entry fails the step, unless missing is skip: then property found (by default) is false and the message goes on.",
		Example: "- datastore_get: {store: fitbit-users, id: '${property.owner}', into: property.user, missing: skip}",
		Build: func(b *flow.Builder, c *datastoreGetConfig) (flow.Step, error) {
			if err := checkStore(c.Store); err != nil {
				return nil, err
			}
			into, err := parseInto(c.Into)
			if err != nil {
				return nil, err
			}
			return &datastoreGetStep{c: c, into: into}, nil
		},
	})
}

func (s *datastoreGetStep) Run(ctx context.Context, x *flow.Exchange) error {
	kv, err := x.KV()
	if err != nil {
		return err
	}
	id, err := s.c.ID.String(x)
	if err != nil {
		return errorf("id: %w", err)
	}
	e, err := kv.Get(ctx, s.c.Store, id)
	if errors.Is(err, store.ErrNotFound) {
		if s.c.Missing == "skip" {
			x.Msg.Property[s.c.Found] = false
			return nil
		}
		return &flow.StatusError{Status: 404, Msg: "no entry " + id + " in data store " + s.c.Store}
	}
	if err != nil {
		return err
	}
	m, body, err := decodeStored(e.Value)
	if err != nil {
		return errorf("%s/%s: %w", s.c.Store, id, err)
	}
	s.into.setValue(x, body, m.ContentType)
	if s.into.property == "" {
		for k, v := range m.Properties {
			x.Msg.Property[k] = v
		}
	}
	if s.c.Missing == "skip" {
		x.Msg.Property[s.c.Found] = true
	}
	if s.c.DeleteAfter {
		if err := kv.Delete(ctx, s.c.Store, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}
