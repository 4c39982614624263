"""Real-component test fixtures: a throwaway OpenSSH sshd and PostgreSQL cluster."""
