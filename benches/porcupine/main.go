// Checks the histories porcupine_export wrote with Porcupine, for docs/performance.md's
// side-by-side. Not built by CI. See benches/porcupine/README.md.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/anishathalye/porcupine"
)

type line struct {
	Client int     `json:"client"`
	Op     string  `json:"op"`
	Key    string  `json:"key"`
	Value  string  `json:"value"`
	Call   int64   `json:"call"`
	Output *output `json:"output"`
	Return int64   `json:"return"`
}

type output struct {
	Value string `json:"value"`
	Found bool   `json:"found"`
	Won   bool   `json:"won"`
}

// State per partition: "" is absent (or an unspent token); "=v" holds v; "spent" is a spent token.
var model = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			in := op.Input.(line)
			k := "name " + in.Key
			if in.Op == "consume" {
				k = "token " + in.Key
			}
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		var parts [][]porcupine.Operation
		for _, k := range keys {
			parts = append(parts, byKey[k])
		}
		return parts
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, out interface{}) (bool, interface{}) {
		s := state.(string)
		in := input.(line)
		o, _ := out.(*output)
		switch in.Op {
		case "put":
			return true, "=" + in.Value
		case "delete":
			return true, ""
		case "get":
			if o == nil {
				return true, s
			}
			if o.Found {
				return s == "="+o.Value, s
			}
			return s == "", s
		case "consume":
			if o == nil {
				return true, "spent"
			}
			if o.Won {
				return s == "", "spent"
			}
			return s == "spent", "spent"
		}
		return false, s
	},
}

const repeat = 20

func main() {
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var history []porcupine.Operation
		scanner := bufio.NewScanner(f)
		for scanner.Scan() {
			var l line
			if err := json.Unmarshal(scanner.Bytes(), &l); err != nil {
				fmt.Fprintln(os.Stderr, path, err)
				os.Exit(1)
			}
			var out interface{}
			if l.Output != nil {
				out = l.Output
			}
			history = append(history, porcupine.Operation{ClientId: l.Client, Input: l, Call: l.Call, Output: out, Return: l.Return})
		}
		f.Close()
		started := time.Now()
		for i := 0; i < repeat; i++ {
			if res := porcupine.CheckOperationsTimeout(model, history, time.Minute); res != porcupine.Ok {
				fmt.Fprintln(os.Stderr, path, "not linearizable or timed out:", res)
				os.Exit(1)
			}
		}
		name := filepath.Base(path)
		fmt.Printf("%s\tporcupine\t%.3f ms\n", name[:len(name)-len(filepath.Ext(name))], float64(time.Since(started).Microseconds())/1000/repeat)
	}
}
