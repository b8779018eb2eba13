// Written with the Slack adapter issue.
