package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/arkserve/arkserve/internal/httpapi"
)

var modelVerbs = map[string]verb{
	"create": modelsCreate,
	"list":   modelsList,
	"show":   modelsShow,
	"delete": modelsDelete,
}

func modelsCreate(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	name := fs.String("name", "", "model name (required)")
	version := fs.String("version", "", "model version, e.g. 1.0.0 (required)")
	source := fs.String("source", "", "model directory on the server's host, or a file:// URL (required)")
	typ := fs.String("type", "Image", "model type: Image, TensorFlow, PyTorch, MindSpore, ...")
	cmd := fs.String("cmd", "", "shell command that starts an instance (it gets PORT and MODEL_DIR); without it, the directory's config.json is used")
	healthURL := fs.String("health-url", "/health", "health check path, with --cmd")
	desc := fs.String("description", "", "description")
	rt := fs.String("runtime", "", "runtime of a framework model")
	return func(ctx context.Context, c *conn, args []string) error {
		if len(args) > 0 {
			return usageError(fmt.Sprintf("models create: unexpected argument %q", args[0]))
		}
		if *name == "" || *version == "" || *source == "" {
			return usageError("models create: --name, --version and --source are required")
		}
		loc := *source
		if !strings.Contains(loc, "://") {
			abs, err := filepath.Abs(loc)
			if err != nil {
				return err
			}
			loc = abs
		}
		req := httpapi.ModelRequest{ModelName: *name, ModelVersion: *version, SourceLocation: loc, ModelType: *typ,
			Description: *desc, Runtime: *rt}
		// initial_config replaces the directory's config.json, so it is sent only when asked for.
		if *cmd != "" || flagSet(fs, "health-url") {
			cfg := map[string]any{"model_type": *typ,
				"health": map[string]string{"protocol": "http", "check_method": "HTTP", "url": *healthURL}}
			if *cmd != "" {
				cfg["cmd"] = *cmd
			}
			if *rt != "" {
				cfg["runtime"] = *rt
			}
			b, err := json.Marshal(cfg)
			if err != nil {
				return err
			}
			req.InitialConfig = string(b)
		}
		id, err := c.api.CreateModel(ctx, c.project, req)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, id)
		return nil
	}
}

// pageFlags are --limit and --offset of list verbs.
type pageFlags struct{ limit, offset *int }

func addPageFlags(fs *flag.FlagSet) pageFlags {
	return pageFlags{limit: fs.Int("limit", 0, "at most this many (server default 1000)"),
		offset: fs.Int("offset", 0, "skip this many")}
}

func (p pageFlags) set(q url.Values) error {
	if *p.limit < 0 || *p.offset < 0 {
		return usageError("--limit and --offset must not be negative")
	}
	if *p.limit > 0 {
		q.Set("limit", strconv.Itoa(*p.limit))
	}
	if *p.offset > 0 {
		q.Set("offset", strconv.Itoa(*p.offset))
	}
	return nil
}

func noArgs(verb string, args []string) error {
	if len(args) > 0 {
		return usageError(fmt.Sprintf("%s: unexpected argument %q", verb, args[0]))
	}
	return nil
}

func modelsList(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	name := fs.String("name", "", "only models whose name contains this")
	page := addPageFlags(fs)
	asJSON := fs.Bool("json", false, "print the API response unchanged")
	return func(ctx context.Context, c *conn, args []string) error {
		if err := noArgs("models list", args); err != nil {
			return err
		}
		q := url.Values{}
		if *name != "" {
			q.Set("model_name", *name)
		}
		if err := page.set(q); err != nil {
			return err
		}
		list, raw, err := c.api.ListModels(ctx, c.project, q)
		if err != nil {
			return err
		}
		if *asJSON {
			return printRaw(c.stdout, raw)
		}
		rows := make([][]string, 0, len(list.Models))
		for _, m := range list.Models {
			rows = append(rows, []string{m.ModelID, m.ModelName, m.ModelVersion, m.ModelType, m.ModelStatus,
				strconv.FormatInt(m.ModelSize, 10), formatMillis(m.CreateAt)})
		}
		return table(c.stdout, "ID\tNAME\tVERSION\tTYPE\tSTATUS\tSIZE\tCREATED", rows)
	}
}

func modelsShow(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	return func(ctx context.Context, c *conn, args []string) error {
		id, err := oneArg(args, "model id")
		if err != nil {
			return err
		}
		_, raw, err := c.api.ShowModel(ctx, c.project, id)
		if err != nil {
			return err
		}
		return printIndented(c.stdout, raw)
	}
}

func modelsDelete(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	cascade := fs.Bool("cascade", false, "also delete the other versions of the model")
	return func(ctx context.Context, c *conn, args []string) error {
		id, err := oneArg(args, "model id")
		if err != nil {
			return err
		}
		res, err := c.api.DeleteModel(ctx, c.project, id, *cascade)
		if err != nil {
			return err
		}
		for _, d := range res.DeleteSuccessList {
			fmt.Fprintln(c.stdout, "deleted model", d)
		}
		var errs []error
		for _, f := range res.DeleteFailedList {
			errs = append(errs, fmt.Errorf("model %s not deleted: %s: %s", f.ModelID, f.ErrorCode, f.ErrorMsg))
		}
		return errors.Join(errs...)
	}
}
