package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// benchFootprint: resident memory of an idle server and its startup time (exec to the first
// answer), on a data dir with 1,000 services and 100,000 update-log entries, beside the same on a
// freshly bootstrapped (empty) data dir.
func benchFootprint(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("footprint", flag.ContinueOnError)
	services := fs.Int("services", 1000, "services")
	per := fs.Int("entries", 100, "update-log entries per service")
	idle := fs.Duration("idle", 5*time.Second, "how long the server idles before its RSS is read")
	starts := fs.Int("starts", 3, "starts of each (median reported)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	header("footprint")
	tmp, bin, err := prepare("footprint")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	empty, full := filepath.Join(tmp, "empty"), filepath.Join(tmp, "full")
	if _, _, err := bootstrapDataDir(bin, empty); err != nil {
		return err
	}
	pid, uid, err := bootstrapDataDir(bin, full)
	if err != nil {
		return err
	}
	p := seedPlan{ProjectID: pid, Owner: uid, Services: *services, Entries: *per, Start: time.UnixMilli(1_760_000_000_000), Prefix: "fp"}
	db := filepath.Join(full, "arkserve.db")
	if err := seed(ctx, db, p, logStderr); err != nil {
		return err
	}
	if err := verifySeed(ctx, db, p, 3); err != nil {
		return err
	}
	fmt.Printf("data dir: %d services, %d update-log entries; database %s\n\n", *services, *services**per, diskSize(db))

	fmt.Printf("| data dir | startup ms (median of %d) | RSS MiB after %v idle | load avg |\n|---|---|---|---|\n", *starts, *idle)
	var ref [2]float64
	for i, dir := range []string{empty, full} {
		var ups []time.Duration
		var rss int
		for range *starts {
			a, err := startArkserve(bin, dir)
			if err != nil {
				return err
			}
			ups = append(ups, a.ready)
			if len(ups) == *starts {
				if err := a.login(); err != nil {
					a.stop()
					return err
				}
				time.Sleep(*idle)
				if rss, err = a.rssKB(); err != nil {
					a.stop()
					return err
				}
			}
			a.stop()
		}
		slices.Sort(ups)
		up := ups[len(ups)/2]
		name := "empty (bootstrapped)"
		if i == 1 {
			name = fmt.Sprintf("%d services, %d entries", *services, *services**per)
		}
		fmt.Printf("| %s | %s | %.1f | %s |\n", name, ms(up), float64(rss)/1024, loadavg())
		if i == 0 {
			ref = [2]float64{float64(up), float64(rss)}
		} else {
			fmt.Printf("\nratio to the empty data dir: startup %.2fx, RSS %.2fx\n", float64(up)/ref[0], float64(rss)/ref[1])
		}
	}
	return nil
}
