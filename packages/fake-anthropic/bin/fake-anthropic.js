#!/usr/bin/env node
// The `fake-anthropic` command. The bin is this committed file, not dist/cli.js, so that installing
// the workspace before the first build links it without a warning.
import '../dist/cli.js';
