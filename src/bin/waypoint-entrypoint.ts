#!/usr/bin/env node
import { runChild } from "../entrypoint/run-child.js";

process.exitCode = await runChild(process.argv.slice(2), process.env);
