/** The signals the entrypoint passes on to the app (it exits with the app's code afterwards). */
export const FORWARDED_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2"] as const;
