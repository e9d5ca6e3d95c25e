"""Chapter 02 (preprocessing): slices and their features, the feature store on disk, song-level splits, batches
read from the store.
"""
