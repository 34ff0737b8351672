"""DCGAN and MLP nets: shapes per image size and the batch-norm placement of Radford et al. 2016."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganmetrics.train.models import DCGANDiscriminator, DCGANGenerator, build_models


@pytest.mark.parametrize(("size", "channels"), [(28, 1), (32, 3), (64, 3)])
def test_dcgan_maps_latents_to_images_of_the_size_and_discriminator_to_one_value(size: int, channels: int):
    generator, discriminator = build_models((channels, size, size), z_dim=8, width=4, depth=0, critic_batch_norm=True)
    with torch.no_grad():
        images = generator(torch.randn(3, 8))
    assert images.shape == (3, channels, size, size)
    assert float(images.abs().max()) <= 1.0  # tanh output
    with torch.no_grad():
        assert discriminator(images).shape == (3,)


def test_dcgan_uses_batch_norm_except_in_the_generator_output_and_discriminator_input_layers():
    generator, discriminator = DCGANGenerator(8, 3, 32, base=4), DCGANDiscriminator(3, 32, base=4)
    g_layers = list(generator.net)
    # G: every transposed convolution but the last is followed by batch norm; the last by tanh.
    for i, layer in enumerate(g_layers):
        if isinstance(layer, nn.ConvTranspose2d):
            follower = g_layers[i + 1]
            assert isinstance(follower, nn.Tanh if i == len(g_layers) - 2 else nn.BatchNorm2d)
    d_layers = list(discriminator.body)
    assert isinstance(d_layers[1], nn.LeakyReLU)  # first conv: no batch norm
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d_layers) == 2  # the two later stages
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d, nn.Linear)) for m in discriminator.modules())


def test_wgan_gp_critic_has_no_batch_norm():
    critic = DCGANDiscriminator(3, 32, base=4, batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())


def test_unsupported_image_size_is_refused_naming_the_sizes():
    with pytest.raises(ValueError, match=r"image_size.*\(28, 32, 64\).*48"):
        DCGANGenerator(8, 3, 48)


def test_mlp_discriminator_features_are_its_last_hidden_layer():
    _, discriminator = build_models((2,), z_dim=4, width=16, depth=2, critic_batch_norm=True)
    x = torch.randn(5, 2)
    features = discriminator.features(x)
    assert features.shape == (5, 16)
    torch.testing.assert_close(discriminator(x), discriminator.head(features).squeeze(1), rtol=0, atol=0)
