/** CloudSecure license client. Being built. */
export {};
