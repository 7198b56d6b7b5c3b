// Command hello is the static binary the image builder's test packs.
package main

import "fmt"

func main() { fmt.Println("hello from a non-root image") }
