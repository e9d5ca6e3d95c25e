"""Chapter 05 (VAE generation): the genre-conditioned VAE, latent → audio, judging the audio, the augmentation
experiment.
"""
