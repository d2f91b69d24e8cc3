"""Scene edits: edit programs (world coordinates), applying them to checkpoints, baking into tensors."""
