// Package docslinks holds the test that keeps the repository's Markdown
// honest: every relative link in a *.md file must name a file that exists
// and, when it has a #fragment, a heading of that file.
package docslinks
