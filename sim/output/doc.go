// Package output writes what a simulation run produced: the time series
// (timeseries.csv), the summary (summary.json), plots of the main curves
// (busy partitions, requests waiting, configuration queues, revenue; PNG
// and SVG, drawn with gonum.org/v1/plot) and a summary for people.
//
// Contract: every writer takes the sim.Result of a finished run and a
// directory it creates if needed; file names are fixed (SeriesFile,
// SummaryFile, Plots) so that scripts and the sweep runner find them.
// Numbers are written with strconv's shortest representation, so equal
// results give equal CSV and JSON files (summary.json's "performance"
// block aside, which measures the machine).
package output
