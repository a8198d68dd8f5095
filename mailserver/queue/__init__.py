"""The durable queue: spool, schedule, runner, MX lookup and delivery status notifications."""
