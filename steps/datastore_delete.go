package steps

import (
	"context"
	"errors"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// datastoreDeleteConfig deletes one entry of a data store.
type datastoreDeleteConfig struct {
	Store   string         `yaml:"store" required:"true" doc:"The data store's name."`
	ID      *flow.Template `yaml:"id" required:"true" doc:"The entry's id."`
	Missing string         `yaml:"missing" default:"ignore" enum:"ignore,fail" doc:"Deleting an entry that does not exist is fine (ignore) or fails the step."`
}

type datastoreDeleteStep struct{ c *datastoreDeleteConfig }

func init() {
	flow.RegisterStep(flow.StepKind[datastoreDeleteConfig]{
		Name:    "datastore_delete",
		Summary: "Deletes one entry of a data store (CPI's Data Store Delete).",
		Doc:     "Used, for example, when a user revokes access: their stored tokens go.",
		Example: "- datastore_delete: {store: fitbit-users, id: '${property.owner}'}",
		Build: func(b *flow.Builder, c *datastoreDeleteConfig) (flow.Step, error) {
			if err := checkStore(c.Store); err != nil {
				return nil, err
			}
			return &datastoreDeleteStep{c}, nil
		},
	})
}

func (s *datastoreDeleteStep) Run(ctx context.Context, x *flow.Exchange) error {
	kv, err := x.KV()
	if err != nil {
		return err
	}
	id, err := s.c.ID.String(x)
	if err != nil {
		return errorf("id: %w", err)
	}
	err = kv.Delete(ctx, s.c.Store, id)
	if errors.Is(err, store.ErrNotFound) && s.c.Missing == "ignore" {
		return nil
	}
	return err
}
