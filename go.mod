module gridbot

go 1.26.0

require (
	github.com/go-telegram/bot v1.19.0
	golang.org/x/sys v0.48.0
	golang.org/x/text v0.44.0
)
