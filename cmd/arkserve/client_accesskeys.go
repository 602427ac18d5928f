package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
)

// arkserve access-key create|list|delete: the caller's own access keys, through the IAM API with
// the stored token.
var accessKeyVerbs = map[string]verb{
	"create": accessKeyCreate,
	"list":   accessKeyList,
	"delete": accessKeyDelete,
}

func accessKeyCreate(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	desc := fs.String("description", "", "description")
	return func(ctx context.Context, c *conn, args []string) error {
		if len(args) > 0 {
			return usageError("access-key create takes no arguments")
		}
		k, err := c.api.CreateAccessKey(ctx, "", *desc)
		if err != nil {
			return err
		}
		printAccessKey(c, k.Access, k.Secret)
		return nil
	}
}

// printAccessKey shows a new key and its secret, which the server shows this once only.
func printAccessKey(c *conn, access, secret string) {
	fmt.Fprintf(c.stdout, "access key: %s\nsecret key: %s\n", access, secret)
	fmt.Fprintln(c.stderr, "The secret key is shown only now: keep it safe.")
}

func accessKeyList(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	return func(ctx context.Context, c *conn, args []string) error {
		if len(args) > 0 {
			return usageError("access-key list takes no arguments")
		}
		ks, err := c.api.ListAccessKeys(ctx, "")
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCESS KEY\tCREATED\tDESCRIPTION")
		for _, k := range ks {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Access, k.CreateTime, k.Description)
		}
		return tw.Flush()
	}
}

func accessKeyDelete(fs *flag.FlagSet) func(context.Context, *conn, []string) error {
	return func(ctx context.Context, c *conn, args []string) error {
		ak, err := oneArg(args, "access key")
		if err != nil {
			return err
		}
		if err := c.api.DeleteAccessKey(ctx, ak); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "deleted access key %s\n", ak)
		return nil
	}
}
