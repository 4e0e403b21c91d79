"""Deep (variational) convolutional autoencoder for deblurring, as in the paper's DAE.

Input/output: float32 (N, 1, S, S) with S = ``image_size`` px, values in [0, 1]
(1.0 = dense/bright); sigmoid output in (0, 1).
"""

import torch
from torch import nn


class DeepAutoencoder(nn.Module):
    """Convolutional VAE: stride-2 conv encoder -> FC mean / log-variance -> latent -> FC -> ConvT decoder.

    Encoder: five 3x3 stride-2 convs + LeakyReLU (224 -> 112 -> 56 -> 28 -> 14 -> 7 px),
    channels base*(1, 2, 4, 4, 4), then a 1x1 conv to ``base`` channels so the
    flattened feature (base * 7 * 7) keeps the FC heads small. Two FC heads give the
    mean and log-variance of a ``latent``-dim Gaussian. In training mode the latent is
    sampled with the reparameterisation trick; in eval mode the mean is used
    (deterministic). Decoder: FC back to (base, 7, 7), 1x1 conv, five 4x4 stride-2
    ConvTranspose2d (7 -> 224 px) mirroring the encoder, 3x3 conv to 1 channel, sigmoid.

    Args:
        image_size: S, input height = width in px; must be a multiple of 32.
        base: base channel count (32 -> about 2.3 M parameters).
        latent: latent dimension.
    """

    def __init__(self, image_size: int = 224, base: int = 32, latent: int = 256):
        super().__init__()
        if image_size % 32:
            raise ValueError(f"image_size must be a multiple of 32, got {image_size}")
        self.image_size, self.latent = image_size, latent
        self.feat = image_size // 32
        ch = [base * m for m in (1, 2, 4, 4, 4)]
        enc, cin = [], 1
        for c in ch:
            enc += [nn.Conv2d(cin, c, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            cin = c
        enc += [nn.Conv2d(cin, base, 1), nn.LeakyReLU(0.2, inplace=True)]
        self.encoder = nn.Sequential(*enc)
        flat = base * self.feat * self.feat
        self.fc_mu = nn.Linear(flat, latent)
        self.fc_logvar = nn.Linear(flat, latent)
        self.fc_dec = nn.Linear(latent, flat)
        dec = [nn.Conv2d(base, ch[-1], 1), nn.LeakyReLU(0.2, inplace=True)]
        outs = ch[::-1][1:] + [ch[0]]  # 128, 128, 64, 32, 32
        cin = ch[-1]
        for c in outs:
            dec += [nn.ConvTranspose2d(cin, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            cin = c
        dec += [nn.Conv2d(cin, 1, 3, padding=1), nn.Sigmoid()]
        self.decoder = nn.Sequential(*dec)
        self.base = base

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"DeepAutoencoder expects (N, 1, {self.image_size}, {self.image_size}), got {tuple(x.shape)}")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (N, 1, S, S) -> (mu, logvar), each (N, latent); logvar clamped to [-30, 20]."""
        self._check(x)
        h = self.encoder(x).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h).clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (N, latent) -> (N, 1, S, S) in (0, 1)."""
        h = self.fc_dec(z).view(-1, self.base, self.feat, self.feat)
        return self.decoder(h)

    def forward_with_kl(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (N, 1, S, S) -> (y (N, 1, S, S) in (0, 1), kl).

        ``kl`` is a scalar tensor: KL(q(z|x) || N(0, I)) in nats, summed over latent
        dims and averaged over the batch. Sampling only when ``self.training``.
        """
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        kl = -0.5 * torch.sum(1.0 + logvar - mu.pow(2) - logvar.exp(), dim=1).mean()
        return self.decode(z), kl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 1, S, S) blurred image in [0, 1] -> (N, 1, S, S) restored image in (0, 1).

        With ``self.return_kl`` set (the trainer does this so DDP sees one forward call)
        it returns ``forward_with_kl(x)`` instead.
        """
        if getattr(self, "return_kl", False):
            return self.forward_with_kl(x)
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z)


class SpatialVAE(nn.Module):
    """The deep autoencoder with a spatial latent: the closest variant of the paper's VAE
    that beats the blurred input (the faithful one, :class:`DeepAutoencoder`, squeezes a
    224 x 224 radiograph through a few hundred numbers and cannot carry its detail).

    Encoder: 3x3 conv 1->base, then two 3x3 stride-2 convs (base->2*base->2*base), LeakyReLU,
    so maps shrink H -> H/4 while channels grow. The paper's two fully connected heads for
    the mean and log-variance act per latent position here (1x1 convs to
    ``latent_channels``). Decoder: the mirror image with 4x4 stride-2 transposed convs.
    The decoder's output is added to the input (``y = x + d``): it learns the correction,
    which a latent at a quarter of the resolution can carry. Any H, W (reflect-padded to a
    multiple of 4 px and cropped back); output unclamped, [0, 1] after the caller's clip.

    Args:
        base: channels of the first level (2*base below it).
        latent_channels: latent channels per position at H/4 x W/4.
    """

    def __init__(self, base: int = 32, latent_channels: int = 16):
        super().__init__()
        act = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        self.encoder = nn.Sequential(
            nn.Conv2d(1, base, 3, padding=1), act(),
            nn.Conv2d(base, 2 * base, 3, stride=2, padding=1), act(),
            nn.Conv2d(2 * base, 2 * base, 3, stride=2, padding=1), act(),
        )
        self.to_mu = nn.Conv2d(2 * base, latent_channels, 1)
        self.to_logvar = nn.Conv2d(2 * base, latent_channels, 1)
        self.decoder = nn.Sequential(
            nn.Conv2d(latent_channels, 2 * base, 1), act(),
            nn.ConvTranspose2d(2 * base, 2 * base, 4, stride=2, padding=1), act(),
            nn.ConvTranspose2d(2 * base, base, 4, stride=2, padding=1), act(),
            nn.Conv2d(base, 1, 3, padding=1),
        )

    def forward_with_kl(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (N, 1, H, W) -> (y (N, 1, H, W), kl): kl is KL(q(z|x) || N(0, I)) in nats per
        image pixel (summed over the latent, divided by H*W, averaged over the batch), so
        its weight does not depend on the image size. Sampling only in training mode."""
        from ._utils import pad_to_multiple

        padded, h, w = pad_to_multiple(x, 4)
        feat = self.encoder(padded)
        mu, logvar = self.to_mu(feat), self.to_logvar(feat).clamp(-30.0, 20.0)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        kl = -0.5 * torch.sum(1.0 + logvar - mu.pow(2) - logvar.exp(), dim=(1, 2, 3)).mean() / (h * w)
        return x + self.decoder(z)[..., :h, :w], kl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 1, H, W) blurred image in [0, 1] -> (N, 1, H, W) estimate (unclamped);
        with ``self.return_kl`` set (the trainer), ``forward_with_kl(x)``."""
        if getattr(self, "return_kl", False):
            return self.forward_with_kl(x)
        return self.forward_with_kl(x)[0]
