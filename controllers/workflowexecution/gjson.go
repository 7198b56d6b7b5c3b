package workflowexecution

import "github.com/tidwall/gjson"

// gjsonLabels lets a label selector read an object's JSON by gjson paths: how Argo's executor
// evaluates a resource template's success and failure conditions.
type gjsonLabels struct{ json []byte }

// Has reports whether the path exists.
func (g gjsonLabels) Has(path string) bool { return gjson.GetBytes(g.json, path).Exists() }

// Get returns the path's value as a string.
func (g gjsonLabels) Get(path string) string { return gjson.GetBytes(g.json, path).String() }

// Lookup returns the path's value and whether it exists.
func (g gjsonLabels) Lookup(path string) (string, bool) {
	r := gjson.GetBytes(g.json, path)
	return r.String(), r.Exists()
}
