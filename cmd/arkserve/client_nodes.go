package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// arkserve nodes list|show|delete: the project's edge nodes (docs/edge.md), through the nodes API
// (an extension of the reference).
var nodeVerbs = map[string]verb{
	"list":   nodesList,
	"show":   nodesShow,
	"delete": nodesDelete,
}

func nodesList(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	asJSON := fs.Bool("json", false, "print the API response unchanged")
	return func(ctx context.Context, c *conn, args []string) error {
		if err := noArgs("nodes list", args); err != nil {
			return err
		}
		list, raw, err := c.api.ListNodes(ctx, c.project)
		if err != nil {
			return err
		}
		if *asJSON {
			return printRaw(c.stdout, raw)
		}
		rows := make([][]string, 0, len(list.Nodes))
		for _, n := range list.Nodes {
			rows = append(rows, []string{n.ID, n.Name, n.State, strings.Join(n.HostIPs, ","),
				n.OSName + " " + n.Arch, strconv.Itoa(n.CPU), strconv.Itoa(n.Memory), strconv.Itoa(n.GPUNum),
				strconv.Itoa(n.DeploymentNum), formatMillis(n.HeartbeatAt)})
		}
		return table(c.stdout, "ID\tNAME\tSTATE\tHOST IPS\tOS\tCPUS\tMEMORY MB\tGPUS\tINSTANCES\tHEARTBEAT", rows)
	}
}

func nodesShow(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	return func(ctx context.Context, c *conn, args []string) error {
		id, err := oneArg(args, "node id")
		if err != nil {
			return err
		}
		_, raw, err := c.api.ShowNode(ctx, c.project, id)
		if err != nil {
			return err
		}
		return printIndented(c.stdout, raw)
	}
}

func nodesDelete(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	return func(ctx context.Context, c *conn, args []string) error {
		id, err := oneArg(args, "node id")
		if err != nil {
			return err
		}
		if err := c.api.DeleteNode(ctx, c.project, id); err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, "deleted node", id)
		return nil
	}
}
