package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/arkserve/arkserve/internal/httpapi"
)

var serviceVerbs = map[string]verb{
	"deploy": servicesDeploy,
	"list":   servicesList,
	"show":   servicesShow,
	"update": servicesUpdate,
	"start":  servicesStatus("start", "running", "starting"),
	"stop":   servicesStatus("stop", "stopped", "stopping"),
	"delete": servicesDelete,
	"events": servicesEvents,
	"logs":   servicesLogs,
}

// defaultSpec is the resource specification of --model entries without --spec.
const defaultSpec = "modelarts.vm.cpu.2u"

// modelList collects repeated --model flags.
type modelList []string

func (m *modelList) String() string     { return strings.Join(*m, ",") }
func (m *modelList) Set(v string) error { *m = append(*m, v); return nil }

// configFlags are --model and --spec, which build a service's config.
type configFlags struct {
	models modelList
	spec   *string
}

func addConfigFlags(fs *flag.FlagSet) *configFlags {
	cf := &configFlags{}
	fs.Var(&cf.models, "model", "model version as ID[:WEIGHT[:INSTANCES]] (repeatable); weights left out share what the given ones leave of 100; instances default to 1")
	cf.spec = fs.String("spec", defaultSpec, "resource specification of every --model")
	return cf
}

// config parses the --model entries. Weights that are left out share the rest of 100 (the first
// entries get the remainder of an uneven split), so that one model gets 100.
func (cf *configFlags) config() ([]httpapi.ServiceConfigRequest, error) {
	out := make([]httpapi.ServiceConfigRequest, 0, len(cf.models))
	var unweighted []int
	given := 0
	for _, m := range cf.models {
		parts := strings.Split(m, ":")
		if len(parts) > 3 || parts[0] == "" {
			return nil, usageError(fmt.Sprintf("--model %q: use ID[:WEIGHT[:INSTANCES]]", m))
		}
		c := httpapi.ServiceConfigRequest{ModelID: parts[0], Specification: *cf.spec, InstanceCount: 1}
		if len(parts) > 1 && parts[1] != "" {
			w, err := strconv.Atoi(parts[1])
			if err != nil || w < 0 || w > 100 {
				return nil, usageError(fmt.Sprintf("--model %q: the weight is an integer from 0 to 100", m))
			}
			c.Weight = w
			given += w
		} else {
			unweighted = append(unweighted, len(out))
		}
		if len(parts) > 2 && parts[2] != "" {
			n, err := strconv.Atoi(parts[2])
			if err != nil || n < 1 {
				return nil, usageError(fmt.Sprintf("--model %q: the instance count is a positive integer", m))
			}
			c.InstanceCount = n
		}
		out = append(out, c)
	}
	if rest := 100 - given; len(unweighted) > 0 && rest > 0 {
		for i, idx := range unweighted {
			out[idx].Weight = rest / len(unweighted)
			if i < rest%len(unweighted) {
				out[idx].Weight++
			}
		}
	}
	return out, nil
}

// readBodyFile reads a JSON request body from a file, or from stdin for "-".
func readBodyFile(path string) (json.RawMessage, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(clientStdin, 16<<20))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s: not valid JSON", path)
	}
	return json.RawMessage(b), nil
}

func servicesDeploy(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	name := fs.String("name", "", "service name (required without --file)")
	desc := fs.String("description", "", "description")
	cf := addConfigFlags(fs)
	file := fs.String("file", "", "send this CreateService body (JSON; - for stdin) instead of building one from the flags")
	wf := addWaitFlags(fs)
	return func(ctx context.Context, c *conn, args []string) error {
		if err := noArgs("services deploy", args); err != nil {
			return err
		}
		if err := wf.check(fs, "services deploy"); err != nil {
			return err
		}
		var body any
		if *file != "" {
			if *name != "" || len(cf.models) > 0 || *desc != "" || flagSet(fs, "spec") {
				return usageError("services deploy: --file cannot be combined with --name, --model, --spec or --description")
			}
			raw, err := readBodyFile(*file)
			if err != nil {
				return err
			}
			body = raw
		} else {
			if *name == "" || len(cf.models) == 0 {
				return usageError("services deploy: --name and at least one --model are required (or --file)")
			}
			cfg, err := cf.config()
			if err != nil {
				return err
			}
			body = httpapi.DeployRequest{ServiceName: *name, Description: *desc, InferType: "real-time", Config: cfg}
		}
		id, err := c.api.DeployService(ctx, c.project, body)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, id)
		if !*wf.wait {
			return nil
		}
		return c.follow(ctx, &watch{serviceID: id, verb: "deployment", entry: true}, *wf.timeout)
	}
}

func servicesList(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	name := fs.String("name", "", "only services whose name contains this")
	status := fs.String("status", "", "only services in this status (running, deploying, failed, stopped, ...)")
	model := fs.String("model", "", "only services that use this model id")
	page := addPageFlags(fs)
	asJSON := fs.Bool("json", false, "print the API response unchanged")
	return func(ctx context.Context, c *conn, args []string) error {
		if err := noArgs("services list", args); err != nil {
			return err
		}
		q := url.Values{}
		for k, v := range map[string]string{"service_name": *name, "status": *status, "model_id": *model} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if err := page.set(q); err != nil {
			return err
		}
		list, raw, err := c.api.ListServices(ctx, c.project, q)
		if err != nil {
			return err
		}
		if *asJSON {
			return printRaw(c.stdout, raw)
		}
		rows := make([][]string, 0, len(list.Services))
		for _, s := range list.Services {
			rows = append(rows, []string{s.ServiceID, s.ServiceName, s.Status, s.InferType, formatMillis(s.PublishAt), s.Description})
		}
		return table(c.stdout, "ID\tNAME\tSTATUS\tTYPE\tPUBLISHED\tDESCRIPTION", rows)
	}
}

func servicesShow(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	return func(ctx context.Context, c *conn, args []string) error {
		id, err := oneArg(args, "service id")
		if err != nil {
			return err
		}
		_, raw, err := c.api.ShowService(ctx, c.project, id)
		if err != nil {
			return err
		}
		return printIndented(c.stdout, raw)
	}
}

func servicesUpdate(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	desc := fs.String("description", "", "new description")
	cf := addConfigFlags(fs)
	file := fs.String("file", "", "send this UpdateService body (JSON; - for stdin) instead of building one from the flags")
	wf := addWaitFlags(fs)
	return func(ctx context.Context, c *conn, args []string) error {
		id, err := oneArg(args, "service id")
		if err != nil {
			return err
		}
		if err := wf.check(fs, "services update"); err != nil {
			return err
		}
		var body any
		switch {
		case *file != "":
			if len(cf.models) > 0 || flagSet(fs, "description") || flagSet(fs, "spec") {
				return usageError("services update: --file cannot be combined with --model, --spec or --description")
			}
			raw, err := readBodyFile(*file)
			if err != nil {
				return err
			}
			body = raw
		case len(cf.models) > 0 || flagSet(fs, "description"):
			req := httpapi.UpdateRequest{}
			if flagSet(fs, "description") {
				req.Description = desc
			}
			if len(cf.models) > 0 {
				if req.Config, err = cf.config(); err != nil {
					return err
				}
			}
			body = req
		default:
			return usageError("services update: nothing to change: give --model, --description or --file")
		}
		// The entry this update adds is the first one newer than the newest before it (a service
		// takes no configuration change while an update runs).
		var before int64
		if *wf.wait {
			logs, _, err := c.api.ServiceLogs(ctx, c.project, id, nil)
			if err != nil {
				return err
			}
			if len(logs.Logs) > 0 {
				before = logs.Logs[0].UpdateTime
			}
		}
		if err := c.api.UpdateService(ctx, c.project, id, body); err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, "updated service", id)
		if !*wf.wait {
			return nil
		}
		return c.follow(ctx, &watch{serviceID: id, verb: "update", entry: true, after: before}, *wf.timeout)
	}
}

// servicesStatus is start (status running) and stop (status stopped); name is the verb.
func servicesStatus(name, status, doing string) verb {
	return func(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
		wf := addWaitFlags(fs)
		return func(ctx context.Context, c *conn, args []string) error {
			id, err := oneArg(args, "service id")
			if err != nil {
				return err
			}
			if err := wf.check(fs, "services "+name); err != nil {
				return err
			}
			if err := c.api.UpdateService(ctx, c.project, id, httpapi.UpdateRequest{Status: status}); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "%s service %s\n", doing, id)
			if !*wf.wait {
				return nil
			}
			return c.follow(ctx, &watch{serviceID: id, verb: name, status: status}, *wf.timeout)
		}
	}
}

func servicesDelete(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	return func(ctx context.Context, c *conn, args []string) error {
		var ids []string
		for _, a := range args {
			for _, id := range strings.Split(a, ",") {
				if id = strings.TrimSpace(id); id != "" {
					ids = append(ids, id)
				}
			}
		}
		if len(ids) == 0 {
			return usageError("services delete: at least one service id is required")
		}
		if err := c.api.DeleteService(ctx, c.project, ids...); err != nil {
			return err
		}
		for _, id := range ids {
			fmt.Fprintln(c.stdout, "deleted service", id)
		}
		return nil
	}
}

func servicesEvents(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	typ := fs.String("type", "", "only events of this type: normal or abnormal")
	order := fs.String("order", "", "asc or desc (server default desc)")
	page := addPageFlags(fs)
	asJSON := fs.Bool("json", false, "print the API response unchanged")
	return func(ctx context.Context, c *conn, args []string) error {
		id, err := oneArg(args, "service id")
		if err != nil {
			return err
		}
		q := url.Values{}
		if *typ != "" {
			q.Set("event_type", *typ)
		}
		if *order != "" {
			q.Set("order", *order)
		}
		if err := page.set(q); err != nil {
			return err
		}
		list, raw, err := c.api.ServiceEvents(ctx, c.project, id, q)
		if err != nil {
			return err
		}
		if *asJSON {
			return printRaw(c.stdout, raw)
		}
		rows := make([][]string, 0, len(list.Events))
		for _, e := range list.Events {
			rows = append(rows, []string{formatMillis(e.OccurTime), e.EventType, e.EventInfo})
		}
		return table(c.stdout, "TIME\tTYPE\tINFO", rows)
	}
}

// parseUpdateTime reads --update-time: epoch milliseconds, or a time as the logs table shows it
// (RFC 3339 with milliseconds).
func parseUpdateTime(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, usageError(fmt.Sprintf("--update-time %q: use epoch milliseconds or a time like 2006-01-02T15:04:05.000+07:00", s))
	}
	return t.UnixMilli(), nil
}

func servicesLogs(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	updateTime := fs.String("update-time", "", "only the entry of this update time: epoch milliseconds, or the time as the table shows it")
	asJSON := fs.Bool("json", false, "print the API response unchanged")
	return func(ctx context.Context, c *conn, args []string) error {
		id, err := oneArg(args, "service id")
		if err != nil {
			return err
		}
		var ut *int64
		if *updateTime != "" {
			ms, err := parseUpdateTime(*updateTime)
			if err != nil {
				return err
			}
			ut = &ms
		}
		logs, raw, err := c.api.ServiceLogs(ctx, c.project, id, ut)
		if err != nil {
			return err
		}
		if *asJSON {
			return printRaw(c.stdout, raw)
		}
		return printLogs(c.stdout, logs)
	}
}

// printLogs prints update logs as a table, in the API's order (newest first).
func printLogs(w io.Writer, logs *httpapi.UpdateLogs) error {
	rows := make([][]string, 0, len(logs.Logs))
	for _, l := range logs.Logs {
		models := make([]string, 0, len(l.Config))
		for _, c := range l.Config {
			name := c.ModelID
			if c.ModelName != "" {
				name = c.ModelName + "@" + c.ModelVersion
			}
			models = append(models, fmt.Sprintf("%s weight=%d instances=%d", name, c.Weight, c.InstanceCount))
		}
		rows = append(rows, []string{formatMillis(l.UpdateTime), l.Result, strings.Join(models, "; ")})
	}
	return table(w, "UPDATE TIME\tRESULT\tMODELS", rows)
}
